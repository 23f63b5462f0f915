"""Word lists for the generated SnelStart relations: Dutch-leaning, with the mess real ledgers hold."""

from __future__ import annotations

SURNAMES = ("Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
            "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
            "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "van Dijk", "Kok",
            "Jacobs", "de Haan", "Vermeulen", "van den Heuvel", "van der Veen", "Schouten", "Willems",
            "van Wijk", "Hoekstra", "Maas", "Verhoeven", "Koster", "Prins", "Huisman", "Peeters", "Kuipers")
TRADES = ("Bakkerij", "Slagerij", "Installatiebedrijf", "Bloemenhuis", "Drukkerij", "Garage",
          "Schildersbedrijf", "Hoveniersbedrijf", "Transportbedrijf", "Autobedrijf", "Kapsalon",
          "Administratiekantoor", "Timmerbedrijf", "Fietsenwinkel", "Groothandel", "Loonbedrijf")
SUFFIXES = ("Installatietechniek", "Bouw", "Techniek", "Logistiek", "Handelsonderneming", "Metaal",
            "Agrarische Diensten", "ICT", "Vastgoed", "Catering", "Elektrotechniek", "Interieurbouw")
PLACES_NAMES = ("'t Hoekje", "De Gouden Leeuw", "Het Wapen van Drenthe", "De Zwaan", "'t Pleintje", "De Molen")
FIRST = ("Jan", "Piet", "Kees", "Anna", "Maria", "Sanne", "Lotte", "Daan", "Bram", "Femke", "Thijs",
         "Eva", "Ruud", "Ingrid", "Mohammed", "Fatima", "Sven", "Joëlle", "Chloé", "Sjoerd")
FOREIGN = {
    "BE": (("Peeters", "Janssens", "Maes", "Dubois", "Lambert", "Claes"), ("BV", "NV", "BVBA", "& Zonen")),
    "DE": (("Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Becker"), ("GmbH", "GmbH & Co. KG", "AG", "e.K.")),
    "FR": (("Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Rousseau"), ("SARL", "SAS", "SA", "& Fils")),
    "GB": (("Smith", "Jones", "Taylor", "Brown", "O'Connor", "Wilson"), ("Ltd", "Ltd.", "PLC", "& Sons")),
    "US": (("Johnson", "Miller", "Davis", "Garcia", "Anderson", "O'Brien"), ("Inc.", "LLC", "Corp.", "Co.")),
    "SE": (("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson"), ("AB", "Handelsbolag", "AB", "AB")),
}
STREETS = {
    "NL": ("Kerkstraat", "Dorpsstraat", "Industrieweg", "Molenweg", "Stationsstraat", "Hoofdstraat",
           "Nieuwe Binnenweg", "Laan van Meerdervoort", "Zuiderzeestraatweg", "Oude Rijn"),
    "BE": ("Meir", "Rue de la Loi", "Kortrijksesteenweg", "Grote Markt", "Chaussée de Louvain"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg", "Lindenallee"),
    "FR": ("rue de Rivoli", "avenue des Champs-Élysées", "rue Victor Hugo", "boulevard Voltaire"),
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"),
    "US": ("Fifth Avenue", "Main Street", "Oak Street", "Maple Avenue", "Elm Street"),
    "SE": ("Drottninggatan", "Storgatan", "Kungsgatan", "Vasagatan"),
}
# (postcode, place). Postcodes are strings: several countries have leading zeros.
PLACES = {
    "NL": (("1012", "Amsterdam"), ("3011", "Rotterdam"), ("2511", "'s-Gravenhage"), ("3511", "Utrecht"),
           ("5611", "Eindhoven"), ("9711", "Groningen"), ("8011", "Zwolle"), ("6811", "Arnhem"),
           ("7511", "Enschede"), ("4811", "Breda"), ("1781", "Den Helder"), ("8861", "Harlingen")),
    "BE": (("1000", "Brussel"), ("2000", "Antwerpen"), ("9000", "Gent"), ("3000", "Leuven"), ("4000", "Liège")),
    "DE": (("01067", "Dresden"), ("04109", "Leipzig"), ("10115", "Berlin"), ("20095", "Hamburg"),
           ("50667", "Köln"), ("80331", "München"), ("09111", "Chemnitz")),
    "FR": (("75001", "Paris"), ("01000", "Bourg-en-Bresse"), ("06000", "Nice"), ("69001", "Lyon"),
           ("13001", "Marseille")),
    "GB": (("SW1A 2AA", "London"), ("M1 1AE", "Manchester"), ("EH1 1YZ", "Edinburgh"), ("B1 1AA", "Birmingham")),
    "US": (("02134", "Boston, MA"), ("10118", "New York, NY"), ("07302", "Jersey City, NJ"), ("60601", "Chicago, IL")),
    "SE": (("111 51", "Stockholm"), ("411 03", "Göteborg"), ("211 19", "Malmö")),
    "LU": (("L-1111", "Luxembourg"),), "AT": (("1010", "Wien"),), "ES": (("08001", "Barcelona"),),
    "IT": (("00118", "Roma"),), "DK": (("1050", "København K"),), "PL": (("00-001", "Warszawa"),),
    "CH": (("8001", "Zürich"),),
}
TLD = {"NL": "nl", "BE": "be", "DE": "de", "FR": "fr", "GB": "co.uk", "US": "com", "SE": "se"}
COUNTRY_WEIGHTS = (("NL", 740), ("BE", 100), ("DE", 70), ("FR", 20), ("GB", 20), ("US", 10), ("SE", 10),
                   ("LU", 6), ("AT", 6), ("ES", 5), ("IT", 5), ("DK", 4), ("PL", 2), ("CH", 2))
BANKS = (("ABNA", "ABNANL2A"), ("INGB", "INGBNL2A"), ("RABO", "RABONL2U"), ("TRIO", "TRIONL2U"),
         ("SNSB", "SNSBNL2A"), ("KNAB", "KNABNL2H"))
EXTRA_FIELDS = (("Vertegenwoordiger", ("Jan de Vries", "Sanne Bakker", "Ruud Smit", None)),
                ("Klantgroep", ("A", "B", "C", "Horeca", "Retail")),
                ("Route", ("1", "2", "3", "7", "12")))
VAT_FORMS = {"NL": "NL{n9}B{n2:02d}", "BE": "BE0{n9}", "DE": "DE{n9}", "FR": "FR{n2:02d}{n9}",
             "GB": "GB{n9}", "SE": "SE1{n9}01"}
