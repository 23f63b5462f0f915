"""`specbridge new ERP FLOW`: scaffold a commented, working spec to start a new connector from.

The spec written is a complete outbound flow (settings, an HTTP connection with an API-key
header, a map step, a send step with an example answer and outcomes, a write-back, a result and
passing fixtures), so `specbridge validate` and `specbridge test` pass on it before a consultant
changes a line. It names no real ERP: the endpoint and fields are placeholders to replace.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from .errors import SpecbridgeError
from .validate import SCHEMAS_DIR

NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

TEMPLATE = """\
# yaml-language-server: $schema=__SCHEMA__
# Scaffolded by `specbridge new __ERP__ __FLOW__`. Replace the example endpoint, fields and
# answers below with the ERP's; every key is explained in docs/spec-reference.md, and
# docs/tutorial-new-erp.md writes a whole spec step by step. While you edit:
#   specbridge validate __PATH__     mistakes as FILE:LINE:COL: message
#   specbridge test __PATH__         runs the fixtures under tests: (no network)
#   specbridge preview __PATH__ --input record.json --settings settings.yaml --explain
#   specbridge docs __PATH__         the mapping tables, generated
version: 1
name: __NAME__
title: __TITLE__
direction: outbound            # App4Sales -> the ERP (inbound: the ERP -> the App4Sales store)
description: |
  Creates the App4Sales customer in __ERP__ and writes the ERP's customer number back.
  (Say in a sentence or two what the flow does: this text heads the generated docs.)

input:
  format: json                 # json, xml or text
  schema: app4sales/customer   # the record must satisfy schemas/app4sales/customer.schema.json
  id: input.CustomerGuid       # names the record in error messages

# What a consultant configures per installation (`--settings FILE` with {Name: value}).
# Credentials are `secret: true` (never printed) and best given as env:VARIABLE.
settings:
  BaseUrl: {type: string, default: "https://api.__ERP__.example/v1", description: The ERP's API address.}
  ApiKey: {type: string, secret: true, required: true, description: The API key; sent as a header on every request.}

# Where and how to talk. Connection values are templates over settings only.
connections:
  erp:
    kind: http
    base_url: "{{ settings.BaseUrl }}"
    auth: {kind: header, name: X-Api-Key, value: "{{ settings.ApiKey }}"}
    timeout: 30                # seconds per request
    retry: {attempts: 3}       # failed connects and 429s; a create is never repeated blindly

steps:
  # 1. Build the request body: one rule per target field, in the order they are sent.
  - id: payload
    kind: map
    title: Customer fields
    fields:
      name: {from: input.CustomerName, required: true, max_length: 100, notes: Mapped directly; the record is refused when empty.}
      email:
        coalesce: [input.Email, "input.ContactPersons[0].Email"]
        omit_empty: true
        notes: The customer's email, else the first contact person's.
      city:
        from: "input.Addresses[?AddressType=='VIS'] | [0].City"
        max_length: 50
        omit_empty: true
        notes: City of the visit address.
      language:
        from: input.LanguageCode
        values: {NL: nl, EN: en}
        values_default: en
        notes: App4Sales language code to the ERP's; anything else is English.
      reference: {from: input.CustomerGuid, notes: "The App4Sales id, so the customer can be found in the ERP again."}

  # 2. Send it. `example:` is the answer `specbridge preview` (and a fixture without
  #    `responses:` for this step) gets instead of calling the ERP.
  - id: create
    kind: send
    connection: erp
    method: POST
    path: /customers
    json: payload
    outcomes:                  # checked in order; the first whose `when` holds decides
      - when: "response.status == `422`"
        error: "__ERP__ refused the customer: {{ error_text(response.body) }}"
      - when: "response.status == `401` || response.status == `403`"
        error: "__ERP__ refused the API key (status {{ response.status }})"
    example: {status: 201, json: {id: 1001, number: C-1001}}

  # 3. Write the ERP's number back to the App4Sales customer. Write-backs are applied at the end
  #    of the run, in one transaction: a failed run writes nothing.
  - id: save_code
    kind: writeback
    key: {CustomerGuid: input.CustomerGuid}
    set:
      CustomerCode: {from: create.body.number, type: string, notes: The ERP's customer number.}

result: "Customer {{ save_code.CustomerCode }} created in __ERP__"

# Fixtures: `specbridge test` runs each one against an empty in-memory store, without network.
# An expected object lists only the keys it is about; "<absent>" means "must not be sent".
tests:
  - name: a new customer is created and its number written back
    settings: {ApiKey: test-key}
    store:
      customers: [{CustomerGuid: g-1, CustomerCode: "", CustomerName: Example Bakery}]
    input:
      CustomerGuid: g-1
      CustomerName: Example Bakery
      LanguageCode: NL
      ContactPersons: [{FullName: Ann Example, Email: ann@bakery.example}]
      Addresses: [{AddressType: VIS, City: Utrecht}]
    expect:
      result: Customer C-1001 created in __ERP__
      requests:
        - method: POST
          path: /customers
          json: {name: Example Bakery, email: ann@bakery.example, city: Utrecht, language: nl, reference: g-1}
      store:
        customers: [{CustomerGuid: g-1, CustomerCode: C-1001}]

  - name: a refused customer shows the ERP's message and nothing is written back
    settings: {ApiKey: test-key}
    store:
      customers: [{CustomerGuid: g-2, CustomerCode: "", CustomerName: Example Bakery}]
    input: {CustomerGuid: g-2, CustomerName: Example Bakery}
    responses:
      create: [{status: 422, json: {message: name is already in use}}]
    expect:
      error: "__ERP__ refused the customer: name is already in use"
      requests: [{json: {email: <absent>, city: <absent>, language: en}}]
      store:
        customers: [{CustomerGuid: g-2, CustomerCode: ""}]

  - name: a refused API key is reported as such
    settings: {ApiKey: wrong-key}
    store:
      customers: [{CustomerGuid: g-3, CustomerCode: "", CustomerName: Example Bakery}]
    input: {CustomerGuid: g-3, CustomerName: Example Bakery}
    responses:
      create: [{status: 401, json: {message: invalid key}}]
    expect:
      error: "__ERP__ refused the API key (status 401)"

  - name: a customer without a name is refused before anything is sent
    settings: {ApiKey: test-key}
    input: {CustomerGuid: g-4, CustomerName: "  "}
    expect:
      error: "record g-4, field name: required value is empty"
      requests: []
"""


def _check_name(what: str, value: str) -> str:
    if not NAME.match(value):
        raise SpecbridgeError(f"{what} {value!r} must be lower case letters, digits and single dashes "
                              f"(e.g. acme-books); it becomes a folder or file name")
    return value


def _modeline_target(folder: Path) -> str:
    """The schema as seen from the new spec's folder (relative, as in the seed specs)."""
    schema = SCHEMAS_DIR / "spec.schema.json"
    try:
        return Path(os.path.relpath(schema, folder.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return schema.as_uri()


def render(erp: str, flow: str, path: Path) -> str:
    """The scaffolded spec for ERP/FLOW, to be written at `path`."""
    title = f"{erp.replace('-', ' ').title()} - {flow.replace('-', ' ').capitalize()}"
    replacements = {"__SCHEMA__": _modeline_target(path.parent), "__PATH__": path.as_posix(),
                    "__NAME__": f"{erp}-{flow}", "__TITLE__": title, "__ERP__": erp, "__FLOW__": flow}
    text = TEMPLATE
    for token, value in replacements.items():
        text = text.replace(token, value)
    return text


def scaffold(erp: str, flow: str, into: Path) -> Path:
    """Write INTO/ERP/FLOW.yaml; never overwrites an existing file."""
    _check_name("ERP", erp)
    _check_name("flow", flow)
    path = into / erp / f"{flow}.yaml"
    text = render(erp, flow, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:  # "x": fails if the file exists, atomically
            out.write(text)
    except FileExistsError:
        raise SpecbridgeError(f"{path} already exists; not overwritten (choose another flow name, "
                              "or remove the file first)") from None
    except OSError as exc:
        raise SpecbridgeError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


@click.command()
@click.argument("erp")
@click.argument("flow")
@click.option("--into", "into", default="mappings", show_default=True, type=click.Path(file_okay=False),
              help="Folder the ERP's folder is created in.")
def new(erp: str, flow: str, into: str) -> None:
    """Scaffold INTO/ERP/FLOW.yaml: a commented spec that validates and passes its fixtures."""
    try:
        path = scaffold(erp, flow, Path(into))
    except SpecbridgeError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"created {path}")
    click.echo(f"next: specbridge validate {path}")
    click.echo(f"      specbridge test {path}")
