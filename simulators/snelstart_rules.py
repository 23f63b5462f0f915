"""Validation of a RelatieWriteModel body (POST/PUT /v2/relaties), in SnelStart's two error shapes.

SnelStart answers a 400 in two shapes (both seen by the iwd-nl/snelstart-php client):

1. ASP.NET model validation, for what the model's attributes check: the `maxLength` of the OpenAPI
   (naam 50, kvkNummer 12, oin 20, websiteUrl 100, iban 50, bic 15) and values the JSON cannot be
   converted to (a text where a number belongs, an unknown enum value, a malformed GUID):
   `{"message": "The request is invalid.", "modelState": {"relatie.Naam": ["The field Naam must be a string with a maximum length of 50."]}}`
2. SnelStart's own checks, as a list: `[{"errorCode": "REL-0007", "message": "Naam moet gevuld zijn"}]`.
   Generic ALG codes come from SnelStart's v2 error-code page, REL codes and texts from the PHP client.

Model validation runs first; the rules only run on a model that binds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from simulators.snelstart_data import EMAIL_MODELS, GUID_EMPTY

MAX_LENGTH = {"naam": 50, "kvkNummer": 12, "oin": 20, "websiteUrl": 100, "iban": 50, "bic": 15}
STRINGS = ("naam", "telefoon", "mobieleTelefoon", "email", "btwNummer", "memo", "kvkNummer", "oin",
           "websiteUrl", "iban", "bic")
INTS = ("relatiecode", "krediettermijn")
FLOATS = ("factuurkorting", "kredietLimiet")
BOOLS = ("bankieren", "nonactief", "ublBestandAlsBijlage")
ENUMS = {"aanmaningsoort": ("Nee", "Onderneming", "Consument"), "incassoSoort": ("Geen", "Core", "B2B")}
RELATIESOORTEN = ("Geen", "Klant", "Leverancier", "Eigen")  # the enum; the rules refuse Geen and Eigen
ADDRESS_FIELDS = ("contactpersoon", "straat", "postcode", "plaats")
_NS = "SnelStart.B2B.Api.V2.Models.Relaties."

MESSAGES = {
    # Generic codes from SnelStart's "B2B API versie 2 foutcodes" page.
    "ALG-0100": "Het ID dient leeg te zijn",
    "ALG-0101": "Het ID in het url en het ID van de data in het request komen niet overeen",
    "ALG-0103": "Ongeldig ID",
    "ALG-0104": "Ongeldig OData filter",
    "ALG-0105": "Het item is nonactief",
    "ALG-0106": "De data in het request is leeg",
    # Relaties codes as the iwd-nl/snelstart-php client lists them.
    "REL-0001": "RelatieSoort mag niet 'geen' zijn",
    "REL-0002": "RelatieSoort dient klant te bevatten indien aanmanen aan staat",
    "REL-0003": "Krediettermijn mag niet kleiner dan -365 of groter dan 1000 zijn",
    "REL-0004": "RelatieSoort dient klant te bevatten indien Factuurkorting aan staat",
    "REL-0007": "Naam moet gevuld zijn",
    "REL-0008": "Relatiecode reeds in gebruik",
    "REL-0009": "Iban mag niet leeg zijn wanneer bankieren aan staat of incassosoort is 'geen'",
    "REL-0010": "Bic is ongeldig",
    "REL-0011": "Iban is ongeldig",
    "REL-0012": "MobieleTelefoon mag maximaal 25 karakters bevatten",
    "REL-0013": "Telefoon mag maximaal 25 karakters bevatten",
    "REL-0014": "Relatiesoort dient leverancier te bevatten indien bankieren aan staat",
    "REL-0015": "WebSiteUrl dient een geldig URL te zijn",
    "REL-0016": "RelatieSoort dient klant te bevatten indien IncassoSoort gevuld is",
    "REL-0017": "Factuurrelatie bestaat niet",
    "REL-0018": "Factuurrelatie is geen klant",
    "REL-0020": "VestigingsAdres.Straat mag maximaal 50 karakters bevatten",
    "REL-0021": "VestigingsAdres.Postcode mag maximaal 25 karakters bevatten",
    "REL-0022": "VestigingsAdres.Plaats mag maximaal 50 karakters bevatten",
    "REL-0023": "VestigingsAdres.Contactpersoon mag maximaal 50 karakters bevatten",
    "REL-0025": "Correspondentie.Straat mag maximaal 50 karakters bevatten",
    "REL-0026": "Correspondentie.Postcode mag maximaal 25 karakters bevatten",
    "REL-0027": "Correspondentie.Plaats mag maximaal 50 karakters bevatten",
    "REL-0028": "Correspondentie.Contactpersoon mag maximaal 50 karakters bevatten",
    "REL-0029": "AanmaningEmailVersturen.Email dient gevuld te zijn indien AanmaningEmailVersturen.ShouldSend aan staat",
    "REL-0032": "FactuurEmailVersturen.Email dient gevuld te zijn indien FactuurEmailVersturen.ShouldSend aan staat",
    "REL-0038": "BevestigingsEmailVersturen.Email dient gevuld te zijn indien BevestigingsEmailVersturen.ShouldSend aan staat",
    "REL-0044": "OfferteEmailVersturen.Email dient gevuld te zijn indien OfferteEmailVersturen.ShouldSend aan staat",
    "REL-0048": "RelatieSoort mag niet 'eigen' bevatten",
    "REL-0055": "CorrespondentieAdres.LandId niet gevonden",
    "REL-0056": "VestigingsAdres.LandId niet gevonden",
    "REL-0057": "BtwNummer mag maximaal 50 karakters bevatten",
    "REL-0058": "BtwNummer moet minimaal 2 karakters bevatten",
    "REL-0059": "BtwNummer mag alleen cijfers en letters bevatten",
    "REL-0060": ("Indien een van de velden van VestigingsAdres gevuld is, meegegeven dienen alle velden gevuld "
                 "zijn, uitgezonderd Contactpersoon"),
    "REL-0061": "Email dient een geldig emailadres te zijn.",
    "REL-0062": "RelatieSoort dient klant te bevatten indien Kredietlimiet ingevuld is.",
    "REL-0064": "RelatieSoort mag niet aangepast worden.",
    "REL-0065": "RelatieSoort kan niet zowel 'klant' als 'leverancier' zijn.",
    "REL-0066": ("De input is incompleet of incorrect. Controleer of de json valide is en de juiste "
                 "properties bevat."),
    "REL-0084": ("Email bevat één of meerdere ongeldige emailadressen. U kunt meerdere emailadressen opgeven "
                 "door ze te scheiden met een puntkomma(;)."),
    "REL-0085": "Email mag maximaal 250 karakters bevatten",
}
_ADDRESS_CODES = {"vestigingsAdres": ("REL-0020", "REL-0021", "REL-0022", "REL-0023", "REL-0056"),
                  "correspondentieAdres": ("REL-0025", "REL-0026", "REL-0027", "REL-0028", "REL-0055")}
_SEND_CODES = {"aanmaningEmailVersturen": "REL-0029", "factuurEmailVersturen": "REL-0032",
               "bevestigingsEmailVersturen": "REL-0038", "offerteEmailVersturen": "REL-0044"}
_EMAIL = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[A-Za-z]{2,}$")
_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_URL = re.compile(r"^(https?://)?[\w-]+(\.[\w-]+)+(:\d+)?(/\S*)?$", re.IGNORECASE)


def rule_errors(*codes: str) -> list[dict[str, str]]:
    return [{"errorCode": code, "message": MESSAGES[code]} for code in codes]


def model_state(errors: Mapping[str, list[str]]) -> dict[str, Any]:
    return {"message": "The request is invalid.", "modelState": dict(errors)}


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _guid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def bind(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Body -> (bound model with canonical values, model-state errors): what Json.NET and the attributes do."""
    errors: dict[str, list[str]] = {}
    model: dict[str, Any] = {}

    def fail(path: str, message: str) -> None:
        errors.setdefault(f"relatie.{path}", []).append(f"{message} Path '{path}'.")

    def convert(path: str, value: Any, target: str) -> Any:
        fail(path, f"Error converting value {_show(value)} to type '{target}'.")

    def text(path: str, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        fail(path, f"Error reading string. Unexpected token: {_token(value)}.")
        return None

    for name in STRINGS:
        if name in body:
            model[name] = text(name, body[name])
    for name in INTS:
        value = body.get(name)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            convert(name, body[name], "System.Int32")
        model[name] = value
    for name in FLOATS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            convert(name, value, "System.Double")
            value = None
        model[name] = float(value) if value is not None else None
    for name in BOOLS:
        value = body.get(name)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if value is not None and not isinstance(value, bool):
            convert(name, value, "System.Boolean")
        model[name] = value if isinstance(value, bool) else None
    for name, allowed in ENUMS.items():
        model[name] = _enum(body.get(name), allowed, name, f"{_NS}{_pascal(name)}Model", convert)
    soorten = body.get("relatiesoort")
    if soorten is not None and not isinstance(soorten, list):
        fail("relatiesoort", f"Cannot deserialize the current JSON {_token(soorten)} into type 'System.Collections."
                             f"Generic.List`1[{_NS}RelatiesoortModel]'.")
        soorten = None
    model["relatiesoort"] = [
        _enum(v, RELATIESOORTEN, f"relatiesoort[{n}]", f"{_NS}RelatiesoortModel", convert)
        for n, v in enumerate(soorten or [])]
    for name in ("vestigingsAdres", "correspondentieAdres"):
        value = body.get(name)
        if value is None or not isinstance(value, dict):
            if value is not None:
                fail(name, f"Error converting value {_show(value)} to type '{_NS}AdresModel'.")
            model[name] = None
            continue
        address = {f: text(f"{name}.{f}", value.get(f)) for f in ADDRESS_FIELDS}
        land = value.get("land")
        land_id = land.get("id") if isinstance(land, dict) else None
        if land_id is not None and _guid(land_id) is None:
            convert(f"{name}.land.id", land_id, "System.Guid")
        address["land"] = _guid(land_id)
        model[name] = address
    for name in EMAIL_MODELS:
        value = body.get(name)
        value = value if isinstance(value, dict) else {}
        model[name] = {"shouldSend": value.get("shouldSend") is True, "email": text(f"{name}.email", value.get("email")),
                       "ccEmail": text(f"{name}.ccEmail", value.get("ccEmail"))}
    relation = body.get("factuurRelatie")
    relation_id = relation.get("id") if isinstance(relation, dict) else None
    if relation_id is not None and _guid(relation_id) is None:
        convert("factuurRelatie.id", relation_id, "System.Guid")
    model["factuurRelatie"] = _guid(relation_id)
    body_id = body.get("id")
    if body_id is not None and _guid(body_id) is None:
        convert("id", body_id, "System.Guid")
    model["id"] = _guid(body_id)
    for name, limit in MAX_LENGTH.items():  # the [StringLength] attributes, reported per property
        value = model.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors.setdefault(f"relatie.{_pascal(name)}", []).append(
                f"The field {_pascal(name)} must be a string with a maximum length of {limit}.")
    return model, errors


def _enum(value: Any, allowed: tuple[str, ...], path: str, target: str,
          convert: Callable[[str, Any, str], None]) -> str | None:
    if value is None:
        return None
    for option in allowed:  # Json.NET reads enum names without regard to case
        if isinstance(value, str) and value.strip().lower() == option.lower():
            return option
    convert(path, value, target)
    return None


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else "{null}" if value is None else str(value)


def _token(value: Any) -> str:
    return "StartObject" if isinstance(value, dict) else "StartArray" if isinstance(value, list) else "Boolean"


def business_errors(model: dict[str, Any], *, land_exists: Callable[[str], bool],
                    relatiesoort_of: Callable[[str], list[str] | None]) -> list[str]:
    """SnelStart's REL rules for one bound model, as error codes, in code order."""
    codes: set[str] = set()
    soort = model["relatiesoort"]
    if not soort or "Geen" in soort:
        codes.add("REL-0001")
    if "Eigen" in soort:
        codes.add("REL-0048")
    if "Klant" in soort and "Leverancier" in soort:
        codes.add("REL-0065")
    klant = "Klant" in soort
    if not (model.get("naam") or "").strip():
        codes.add("REL-0007")
    if model["factuurkorting"] and not klant:
        codes.add("REL-0004")
    if model["kredietLimiet"] and not klant:
        codes.add("REL-0062")
    if model["aanmaningsoort"] not in (None, "Nee") and not klant:
        codes.add("REL-0002")
    if model["krediettermijn"] is not None and not -365 <= model["krediettermijn"] <= 1000:
        codes.add("REL-0003")
    incasso = model["incassoSoort"] not in (None, "Geen")
    if incasso and not klant:
        codes.add("REL-0016")
    if model["bankieren"] and "Leverancier" not in soort:
        codes.add("REL-0014")
    if (model["bankieren"] or incasso) and not model.get("iban"):
        codes.add("REL-0009")
    if model.get("iban") and not _iban_ok(model["iban"]):
        codes.add("REL-0011")
    if model.get("bic") and not _BIC.match(model["bic"].replace(" ", "").upper()):
        codes.add("REL-0010")
    if model.get("websiteUrl") and not _URL.match(model["websiteUrl"].strip()):
        codes.add("REL-0015")
    for name, code in (("telefoon", "REL-0013"), ("mobieleTelefoon", "REL-0012")):
        if len(model.get(name) or "") > 25:
            codes.add(code)
    email = model.get("email") or ""
    if len(email) > 250:
        codes.add("REL-0085")
    elif email.strip():
        addresses = [a.strip() for a in email.split(";") if a.strip()]
        if not all(_EMAIL.match(a) for a in addresses):
            codes.add("REL-0084" if ";" in email else "REL-0061")
    btw = model.get("btwNummer") or ""
    if btw:
        if len(btw) > 50:
            codes.add("REL-0057")
        if len(btw) < 2:
            codes.add("REL-0058")
        if not btw.isalnum():
            codes.add("REL-0059")
    for name, (straat, postcode, plaats, contact, land) in _ADDRESS_CODES.items():
        address = model[name]
        if address is None:
            continue
        for field, code, limit in (("straat", straat, 50), ("postcode", postcode, 25), ("plaats", plaats, 50),
                                   ("contactpersoon", contact, 50)):
            if len(address[field] or "") > limit:
                codes.add(code)
        if address["land"] not in (None, GUID_EMPTY) and not land_exists(address["land"]):
            codes.add(land)
    vestiging = model["vestigingsAdres"]
    if vestiging is not None:
        filled = [bool((vestiging[f] or "").strip()) for f in ("straat", "postcode", "plaats")]
        if any(filled) and not all(filled):
            codes.add("REL-0060")
    for name, code in _SEND_CODES.items():
        if model[name]["shouldSend"] and not model[name]["email"]:
            codes.add(code)
    if model["factuurRelatie"] not in (None, GUID_EMPTY):
        other = relatiesoort_of(model["factuurRelatie"])
        if other is None:
            codes.add("REL-0017")
        elif "Klant" not in other:
            codes.add("REL-0018")
    return sorted(codes)


def _iban_ok(iban: str) -> bool:
    text = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", text):
        return False
    digits = "".join(str(int(c, 36)) for c in text[4:] + text[:4])
    return int(digits) % 97 == 1
