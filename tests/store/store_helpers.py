"""Shared test data for the store tests."""

from __future__ import annotations

from typing import Any


def customer(code: str = "000042", **fields: Any) -> dict[str, Any]:
    """A complete, realistic customer document; keyword arguments override fields."""
    doc: dict[str, Any] = {
        "CustomerGuid": f"guid-{code}",
        "CustomerCode": code,
        "InternalCode": f"int-{code}",
        "CustomerName": f"Bakkerij {code}",
        "Discount": 2.5,
        "VatLiable": True,
        "Phone": "0123456789",
        "UsesPriceField": 2,
        "IsActive": True,
        "Addresses": [
            {"AddressType": "VIS", "AddressLine1": "Dorpsstraat 1", "PostCode": "0123 AB", "City": "Urk",
             "Iso2": "NL"},
            {"AddressType": "DEL", "AddressLine1": "Haven 2", "PostCode": "0456", "City": "Urk"},
        ],
        "ContactPersons": [{"ContactId": "7", "FullName": "Jan de Vries", "IsMainContact": True}],
        "FreeFields": {"Region": "Noord", "Score": 7, "Vip": False, "Empty": None},
        "DynamicFreeFields": {"Route": "0042"},
    }
    doc.update(fields)
    return doc
