"""The data behind the SnelStart simulator: countries (LandModel) and generated relations.

Generated relations are never stored. Customer `i` of an administration is a pure function of
(seed, i): every field comes from a hash of (seed, i, field), so a million customers cost no
memory, and a filter can compute just the fields it tests (relatiesoort, nonactief, naam, email)
without building the whole record. The id is a GUID that encodes `i` through a keyed Feistel
permutation, so `GET /relaties/{id}` finds a generated customer without an index.

Records follow the OpenAPI schemas of SnelStart B2B API v2 (RelatieModel, AdresModel,
LandIdentifierModel, EmailVersturenModel, ExtraVeldRelatieModel, LandModel), with every property
present, null where empty, in the schema's order, as ASP.NET's JSON serializer writes them.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from simulators import snelstart_words as words

GUID_EMPTY = "00000000-0000-0000-0000-000000000000"

# --- countries (GET /landen) -------------------------------------------------------------------

# (ISO alpha-2, Dutch name). Nederland's id is the one a public SnelStart script shows for NL;
# the other ids are stable UUIDs of our own (ids are per administration, clients must look them up).
_COUNTRIES = [
    ("NL", "Nederland"), ("BE", "België"), ("DE", "Duitsland"), ("FR", "Frankrijk"),
    ("GB", "Verenigd Koninkrijk"), ("US", "Verenigde Staten"), ("SE", "Zweden"), ("LU", "Luxemburg"),
    ("AT", "Oostenrijk"), ("ES", "Spanje"), ("IT", "Italië"), ("DK", "Denemarken"), ("PL", "Polen"),
    ("CH", "Zwitserland"),
]
_NL_ID = "d17c442b-0016-44da-8d1d-84ab8c63e726"
_NAMESPACE = uuid.UUID("6f1c1a52-33c4-4f0e-9d2b-7b3c2e5a9d10")


def _land_id(iso: str) -> str:
    return _NL_ID if iso == "NL" else str(uuid.uuid5(_NAMESPACE, f"snelstart-land-{iso}"))


LANDEN: list[dict[str, Any]] = sorted(
    ({"naam": naam, "landcodeISO": iso, "landcode": iso, "id": _land_id(iso), "uri": f"/landen/{_land_id(iso)}"}
     for iso, naam in _COUNTRIES),
    key=lambda land: land["naam"])
LAND_BY_ID = {land["id"]: land for land in LANDEN}
LAND_BY_ISO = {land["landcodeISO"]: land for land in LANDEN}
NL_ID = _NL_ID


def land_ref(land_id: str) -> dict[str, str]:
    """A LandIdentifierModel."""
    return {"id": land_id, "uri": f"/landen/{land_id}"}


# --- record shapes -----------------------------------------------------------------------------

# RelatieModel's properties in the OpenAPI's order. RelatieWriteModel is the same without `fax`.
READ_FIELDS = (
    "relatiesoort", "modifiedOn", "relatiecode", "naam", "vestigingsAdres", "correspondentieAdres",
    "telefoon", "mobieleTelefoon", "fax", "email", "btwNummer", "factuurkorting", "krediettermijn",
    "bankieren", "nonactief", "kredietLimiet", "memo", "kvkNummer", "oin", "websiteUrl",
    "aanmaningsoort", "offerteEmailVersturen", "bevestigingsEmailVersturen", "factuurEmailVersturen",
    "aanmaningEmailVersturen", "offerteAanvraagEmailVersturen", "bestellingEmailVersturen",
    "ublBestandAlsBijlage", "iban", "bic", "incassoSoort", "factuurRelatie", "inkoopBoekingenUri",
    "verkoopBoekingenUri", "documents", "id", "uri", "extraVeldenKlant",
)
WRITE_FIELDS = tuple(f for f in READ_FIELDS if f != "fax")
EMAIL_MODELS = ("offerteEmailVersturen", "bevestigingsEmailVersturen", "factuurEmailVersturen",
                "aanmaningEmailVersturen", "offerteAanvraagEmailVersturen", "bestellingEmailVersturen")


def write_view(record: dict[str, Any]) -> dict[str, Any]:
    """The RelatieWriteModel that POST and PUT answer with."""
    return {k: record[k] for k in WRITE_FIELDS}


def format_modified(moment: datetime) -> str:
    """How ASP.NET writes a DateTime without a kind: milliseconds, trailing zeros dropped, no offset."""
    text = moment.isoformat(timespec="milliseconds").rstrip("0")
    return text[:-1] if text.endswith(".") else text


def relation_uris(guid: str) -> dict[str, str]:
    return {"uri": f"/relaties/{guid}", "inkoopBoekingenUri": f"/relaties/{guid}/inkoopboekingen",
            "verkoopBoekingenUri": f"/relaties/{guid}/verkoopboekingen"}


# --- deterministic hashing ---------------------------------------------------------------------

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M31 = (1 << 31) - 1


def _mix(x: int) -> int:
    """splitmix64's finalizer: a fast, well-spread 64-bit hash."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


# Field salts: each filterable field has its own hash, so it can be computed on its own.
_SOORT, _ACTIEF, _NAAM, _EMAIL, _LAND, _MODIFIED, _REST = (0x51, 0xAC, 0x4A, 0xE3, 0x1D, 0x3D, 0x77)


_EPOCH = datetime(2016, 1, 1)
_SPAN_MS = int((datetime(2025, 1, 1) - _EPOCH).total_seconds() * 1000)


def iban_nl(bank: str, account: int) -> str:
    """A Dutch IBAN with a correct ISO 7064 mod-97 check."""
    bban = f"{bank}{account:010d}"
    digits = "".join(str(int(c, 36)) for c in bank) + f"{account:010d}" + "232100"  # "NL00" as digits
    return f"NL{98 - int(digits) % 97:02d}{bban}"


class _Draw:
    """A small deterministic stream of random numbers (splitmix64); far cheaper to seed than random.Random."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed

    def random(self) -> float:
        self._state = (self._state + _GOLDEN) & _M64
        return _mix(self._state) / 18446744073709551616.0

    def pick(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def span(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low))


class _Stream(random.Random):
    """random.Random (costly to seed, cheap to draw from) with the same quick picks, for whole records."""

    def pick(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def span(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low))


_COUNTRY_TABLE = tuple(iso for iso, weight in words.COUNTRY_WEIGHTS for _ in range(weight))


_PLAIN = str.maketrans("äëïöüéèçßå", "aeioueecsa")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _slug(name: str) -> str:
    return _NOT_ALNUM.sub("", name.lower().translate(_PLAIN))[:30] or "relatie"


# --- the generated administration --------------------------------------------------------------

class GeneratedRelaties:
    """`count` relations of one administration, customer `i` computed from (seed, i) on demand."""

    def __init__(self, count: int, seed: int) -> None:
        self.count = count
        self.seed = seed
        self._key = _mix((seed * _GOLDEN) & _M64)
        prefix = _mix(self._key ^ 0x5EED)
        self._guid_high = (prefix & ~(0xF << 12)) | (0x4 << 12)  # version 4 nibble
        self._rounds = [_mix(self._key + r) & _M31 for r in range(4)]

    def _h(self, i: int, salt: int) -> int:
        return _mix((self._key ^ (salt * _GOLDEN)) + i * 0xD1B54A32D192ED03 & _M64)

    # ids and codes

    def _feistel(self, value: int, decrypt: bool = False) -> int:
        left, right = value >> 31, value & _M31
        for k in (reversed(self._rounds) if decrypt else self._rounds):
            if decrypt:
                left, right = right ^ (_mix(left ^ k) & _M31), left
            else:
                left, right = right, left ^ (_mix(right ^ k) & _M31)
        return (left << 31) | right

    def guid(self, i: int) -> str:
        low = (0b10 << 62) | self._feistel(i)  # RFC 4122 variant bits
        h = f"{(self._guid_high << 64) | low:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def index_of_guid(self, text: str) -> int | None:
        try:
            value = uuid.UUID(text).int
        except ValueError:
            return None
        if value >> 64 != self._guid_high or (value >> 62) & 0b11 != 0b10:
            return None
        i = self._feistel(value & ((1 << 62) - 1), decrypt=True)
        return i if i < self.count else None

    @staticmethod
    def relatiecode(i: int) -> int:
        """Relation numbers from 1, with a gap every 50 (relations deleted long ago)."""
        return i + 1 + i // 50

    def index_of_code(self, code: int) -> int | None:
        if code < 1:
            return None
        i = (code - 1) - (code - 1) // 51
        return i if i < self.count and self.relatiecode(i) == code else None

    @property
    def last_code(self) -> int:
        return self.relatiecode(self.count - 1) if self.count else 0

    # the fields filters look at, each on its own

    def relatiesoort(self, i: int) -> list[str]:
        roll = self._h(i, _SOORT) % 100
        return ["Klant"] if roll < 85 else ["Leverancier"] if roll < 95 else ["Klant", "Leverancier"]

    def nonactief(self, i: int) -> bool:
        return self._h(i, _ACTIEF) % 100 < 5

    def country(self, i: int) -> str:
        return _COUNTRY_TABLE[self._h(i, _LAND) % len(_COUNTRY_TABLE)]

    def naam(self, i: int, iso: str | None = None) -> str:
        rng = _Draw(self._h(i, _NAAM))
        iso = iso or self.country(i)
        if iso in words.FOREIGN:
            names, forms = words.FOREIGN[iso]
            return f"{rng.pick(names)} {rng.pick(forms)}"
        if iso != "NL":
            return f"{rng.pick(words.FOREIGN['DE'][0])} International"
        shape = rng.below(100)
        surname = rng.pick(words.SURNAMES)
        if shape < 30:
            name = f"{rng.pick(words.TRADES)} {surname}"
        elif shape < 55:
            name = f"{surname[0].upper()}{surname[1:]} {rng.pick(words.SUFFIXES)} B.V."
        elif shape < 70:
            name = f"{rng.pick(words.FIRST)} {surname}"  # a consumer
        elif shape < 80:
            name = f"{surname[0].upper()}{surname[1:]} & {rng.pick(words.SURNAMES)} V.O.F."
        elif shape < 88:
            name = f"Eetcafé {rng.pick(words.PLACES_NAMES)}"
        elif shape < 96:
            name = (f"Stichting {rng.pick(words.FIRST)} {surname} tot Bevordering van de "
                    f"{rng.pick(words.SUFFIXES)} in de Regio")  # longer than 50: cut, as stored
        else:
            name = f"{surname[0].upper()}{surname[1:]}"
        return name[:50].rstrip()

    def email(self, i: int, naam: str | None = None, iso: str | None = None) -> str | None:
        rng = _Draw(self._h(i, _EMAIL))
        roll = rng.below(100)
        if roll < 10:
            return None
        iso = iso or self.country(i)
        domain = f"{_slug(naam or self.naam(i, iso))}.{words.TLD.get(iso, 'eu')}"
        box = rng.pick(("info", "info", "administratie", "facturen", "inkoop", "contact"))
        if roll < 13:
            return f"{box}@{domain};{rng.pick(('boekhouding', 'directie'))}@{domain}"
        if roll < 18:
            return f"{box.capitalize()}@{domain}"
        return f"{box}@{domain}"

    def modified_on(self, i: int) -> str:
        moment = _EPOCH + timedelta(milliseconds=self._h(i, _MODIFIED) % _SPAN_MS)
        return format_modified(moment)

    # the whole record

    def record(self, i: int) -> dict[str, Any]:
        rng = _Stream(self._h(i, _REST))
        guid, iso = self.guid(i), self.country(i)
        soort = self.relatiesoort(i)
        klant = "Klant" in soort
        naam = self.naam(i, iso)
        contact = f"{rng.pick(words.FIRST)} {rng.pick(words.SURNAMES)}" if rng.random() < 0.7 else None
        vestiging = None if rng.random() < 0.08 else self._address(rng, iso, contact)
        roll = rng.random()
        if roll < 0.35 and vestiging is not None:
            correspondentie = dict(vestiging)
        elif roll < 0.55:
            correspondentie = self._postbus(rng, iso, contact)
        elif roll < 0.9:
            correspondentie = {"contactpersoon": None, "straat": None, "postcode": None, "plaats": None,
                               "land": None}
        else:
            correspondentie = None
        iban = bic = None
        if iso == "NL" and rng.random() < 0.5:
            bank, bic = rng.pick(words.BANKS)
            iban = iban_nl(bank, rng.span(10**9, 10**10))
            bic = bic if rng.random() < 0.7 else None
        extra = []
        if klant:
            for field_name, values in words.EXTRA_FIELDS[: rng.below(4)]:
                extra.append({"naam": field_name, "waarde": rng.pick(values)})
        record = {
            "relatiesoort": soort,
            "modifiedOn": self.modified_on(i),
            "relatiecode": self.relatiecode(i),
            "naam": naam,
            "vestigingsAdres": vestiging,
            "correspondentieAdres": correspondentie,
            "telefoon": self._phone(rng, iso) if rng.random() < 0.75 else None,
            "mobieleTelefoon": f"06-{rng.span(10**7, 10**8)}" if iso == "NL" and rng.random() < 0.4 else None,
            "fax": f"0{rng.span(10, 99)}-{rng.span(10**6, 10**7)}" if rng.random() < 0.05 else None,
            "email": self.email(i, naam, iso),
            "btwNummer": self._vat(rng, iso) if rng.random() < 0.7 else None,
            "factuurkorting": rng.pick((0.0, 0.0, 0.0, 0.0, 2.5, 5.0, 10.0)) if klant else 0.0,
            "krediettermijn": rng.pick((14, 30, 30, 30, 60, 0)),
            "bankieren": False,
            "nonactief": self.nonactief(i),
            "kredietLimiet": rng.pick((0.0, 0.0, 0.0, 5000.0)) if klant else 0.0,
            "memo": rng.pick((None, None, None, "Levering via achteringang.\r\nNiet voor 9:00.", "Let op: BTW verlegd")),
            "kvkNummer": f"{rng.below(10**8):08d}" if iso == "NL" and rng.random() < 0.8 else None,
            "oin": None,
            "websiteUrl": (rng.pick(("www.", "https://www.", "http://", "")) + f"{_slug(naam)}.{words.TLD.get(iso, 'eu')}"
                           if rng.random() < 0.4 else None),
            "aanmaningsoort": ("Onderneming" if rng.random() < 0.8 else "Consument") if klant else "Nee",
            **{name: {"shouldSend": False, "email": None, "ccEmail": None} for name in EMAIL_MODELS},
            "ublBestandAlsBijlage": False,
            "iban": iban,
            "bic": bic,
            "incassoSoort": "Geen",
            "factuurRelatie": None,
            "documents": [],
            "id": guid,
            "extraVeldenKlant": extra,
        }
        record.update(relation_uris(guid))
        return {k: record[k] for k in READ_FIELDS}

    @staticmethod
    def _address(rng: _Stream, iso: str, contact: str | None) -> dict[str, Any]:
        postcode, plaats = rng.pick(words.PLACES[iso])
        number = rng.span(1, 250)
        streets = words.STREETS.get(iso, words.STREETS["DE"])
        if iso == "NL":
            postcode = f"{postcode[:2]}{rng.span(10, 100)}"
            letters = "".join(rng.pick("ABCDEGHJKLMNPRSTVWXZ") for _ in range(2))
            style = rng.random()
            postcode = (f"{postcode}{letters}" if style < 0.1 else f"{postcode} {letters.lower()}" if style < 0.12
                        else f"{postcode} {letters}")
            straat = f"{rng.pick(streets)} {number}{rng.pick(('', '', '', 'a', '-B', ' bis'))}"
        elif iso in ("FR", "GB", "US"):
            straat = f"{number} {rng.pick(streets)}"
        else:
            straat = f"{rng.pick(streets)} {number}"
        return {"contactpersoon": contact, "straat": straat, "postcode": postcode, "plaats": plaats,
                "land": land_ref(LAND_BY_ISO[iso]["id"])}

    @staticmethod
    def _postbus(rng: _Stream, iso: str, contact: str | None) -> dict[str, Any]:
        if iso != "NL":
            return GeneratedRelaties._address(rng, iso, contact)
        postcode, plaats = rng.pick(words.PLACES["NL"])
        return {"contactpersoon": contact, "straat": f"Postbus {rng.span(1, 9999)}",
                "postcode": f"{postcode[:2]}{rng.span(10, 100)} {rng.pick(('AA', 'AB', 'AC', 'BA'))}",
                "plaats": plaats, "land": land_ref(NL_ID)}

    @staticmethod
    def _phone(rng: _Stream, iso: str) -> str:
        if iso == "NL":
            style = rng.below(3)
            if style == 0:
                return f"0{rng.span(10, 80)}-{rng.span(10**6, 10**7)}"
            if style == 1:
                return f"+31 {rng.span(10, 80)} {rng.span(10**6, 10**7)}"
            return f"0{rng.span(100, 800)}{rng.span(10**5, 10**6)}"
        prefix = {"BE": "+32", "DE": "+49", "FR": "+33", "GB": "+44", "US": "+1", "SE": "+46"}.get(iso, "+352")
        return f"{prefix} {rng.span(1, 99)} {rng.span(10**5, 10**7)}"

    @staticmethod
    def _vat(rng: _Stream, iso: str) -> str | None:
        n9 = f"{rng.below(10**9):09d}"
        form = words.VAT_FORMS.get(iso)
        return form.format(n9=n9, n2=rng.span(1, 100)) if form else None
