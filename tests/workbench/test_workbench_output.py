"""Exact output of the consultant's workbench commands on tests/workbench/small-flow.yaml.

`specbridge preview --explain` and `specbridge docs` (Markdown and HTML) are compared with their
full expected text, so any change in what a consultant sees shows up here as a diff. When a change
is intended, update the text below (the test prints the new output on failure).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import cli

HERE = Path(__file__).resolve().parent
SPEC = HERE / "small-flow.yaml"
SECRET = "wb-Secret-4242"  # the ApiKey in preview-settings.yaml


def specbridge(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


EXPLAIN = r"""{
  "requests": [
    {
      "transport": "http",
      "connection": "erp",
      "method": "POST",
      "path": "/customers",
      "json": {
        "name": "Bakkerij d",
        "kind": "C",
        "email": "ann@korenaar.example",
        "language": "nl-NL",
        "discount": 0,
        "segment": "retail",
        "label": "Bakkerij de Gouden Korenaar (Utrecht)",
        "address": {
          "city": "Utrec",
          "country": "NL"
        },
        "contacts": [
          {
            "name": "Jan Jansen",
            "main": "Y"
          },
          {
            "name": "Ann Smith",
            "main": "N"
          }
        ]
      }
    }
  ],
  "result": "created C-0042",
  "writes": [
    {
      "table": "customers",
      "key": {
        "CustomerGuid": "g-1"
      },
      "set": {
        "CustomerCode": "C-0042"
      },
      "step": "save_code"
    }
  ],
  "explain": [
    {
      "step": "payload",
      "field": "code",
      "rule": "from: input.CustomerCode",
      "outcome": "omitted: when is_update is false"
    },
    {
      "step": "payload",
      "field": "name",
      "rule": "from: input.CustomerName",
      "value": "Bakkerij d",
      "outcome": "truncated from 27 to 10 characters"
    },
    {
      "step": "payload",
      "field": "kind",
      "rule": "value: \"C\"",
      "value": "C"
    },
    {
      "step": "payload",
      "field": "email",
      "rule": "coalesce: input.Email; input.ContactPersons[?!is_empty(Email)] | [0].Email",
      "value": "ann@korenaar.example"
    },
    {
      "step": "payload",
      "field": "language",
      "rule": "from: lower(input.LanguageCode || '')",
      "value": "nl-NL",
      "outcome": "value table hit: \"nl\" -> \"nl-NL\""
    },
    {
      "step": "payload",
      "field": "discount",
      "rule": "from: input.Discount",
      "value": 0,
      "outcome": "default used: 0"
    },
    {
      "step": "payload",
      "field": "segment",
      "rule": "cases: \"wholesale\" when input.Discount > `10`; \"retail\" otherwise",
      "value": "retail"
    },
    {
      "step": "payload",
      "field": "fax",
      "rule": "from: input.Fax",
      "outcome": "omitted because empty"
    },
    {
      "step": "payload",
      "field": "label",
      "rule": "template: {{ input.CustomerName }} ({{ input.City or '?' }})",
      "value": "Bakkerij de Gouden Korenaar (Utrecht)"
    },
    {
      "step": "payload",
      "field": "address",
      "rule": "fields: (object)",
      "value": {
        "city": "Utrec",
        "country": "NL"
      }
    },
    {
      "step": "payload",
      "field": "address.city",
      "rule": "from: input.City",
      "value": "Utrec",
      "outcome": "truncated from 7 to 5 characters"
    },
    {
      "step": "payload",
      "field": "address.country",
      "rule": "value: \"NL\"",
      "value": "NL"
    },
    {
      "step": "payload",
      "field": "contacts",
      "rule": "each: input.ContactPersons",
      "value": [
        {
          "name": "Jan Jansen",
          "main": "Y"
        },
        {
          "name": "Ann Smith",
          "main": "N"
        }
      ]
    },
    {
      "step": "payload",
      "field": "contacts[].name",
      "rule": "from: item.FullName",
      "value": "Jan Jansen"
    },
    {
      "step": "payload",
      "field": "contacts[].main",
      "rule": "from: item.IsMainContact",
      "value": "Y",
      "outcome": "value table hit: true -> \"Y\""
    },
    {
      "step": "payload",
      "field": "contacts[].name",
      "rule": "from: item.FullName",
      "value": "Ann Smith"
    },
    {
      "step": "payload",
      "field": "contacts[].main",
      "rule": "from: item.IsMainContact",
      "value": "N",
      "outcome": "value table miss: null -> \"N\""
    }
  ]
}
"""


MARKDOWN = r"""# Workbench - Create customer

Sends an App4Sales customer to a small ERP and writes the ERP's code back.

## Settings

| Setting | Type | Default | Notes |
|---|---|---|---|
| BaseUrl | string | "https://erp.example/api" | The ERP's API address. |
| ApiKey | string |  | Sent as X-Api-Key on every call. Secret. |
| DefaultLanguage | string | "en" | Language when the customer has none. |

## Steps

1. **payload** (map): Build `payload` from 11 field rules (table below). Names used by the rules: `is_update` = `!is_empty(input.CustomerCode)`.
2. **create** (send): POST `/customers` on `erp`. Outcomes: when `` response.status == `422` ``: error "ERP refused {{ input.CustomerName }}: {{ error_text(response.body) }}".
3. **save_code** (writeback): Write back to the customer with CustomerGuid = `input.CustomerGuid`.

## Customer payload

| Target field | Source | Logic / notes | Max length | Required | Default |
|---|---|---|---|---|---|
| code | `input.CustomerCode` | Only when `is_update`. Only for an update. |  |  |  |
| name | `input.CustomerName` | The ERP keeps 10 characters. | 10 | yes |  |
| kind | Hardcoded "C" | Not when `is_update`. |  |  |  |
| email | First non-empty of `input.Email`, `input.ContactPersons[?!is_empty(Email)] \| [0].Email` | Left out when empty. |  |  |  |
| language | `lower(input.LanguageCode \|\| '')` | Value table: nl → nl-NL, en → en-GB. Other values → null. |  |  | `settings.DefaultLanguage` |
| discount | `input.Discount` | Converted to number. |  |  | 0 |
| segment | Cases: "wholesale" when `` input.Discount > `10` ``; "retail" otherwise |  |  |  |  |
| fax | `input.Fax` | Left out when empty. |  |  |  |
| label | `{{ input.CustomerName }} ({{ input.City or '?' }})` |  |  |  |  |
| address | Derived (see rows below) |  |  |  |  |
| address.city | `input.City` |  | 5 |  |  |
| address.country | Hardcoded "NL" |  |  |  |  |
| contacts | Each of `input.ContactPersons` |  |  |  |  |
| contacts[].name | `item.FullName` |  |  | yes |  |
| contacts[].main | `item.IsMainContact` | Value table: true → Y. Other values → "N". |  |  |  |

## Mapping table: save_code

| Target field | Source | Logic / notes | Max length | Required | Default |
|---|---|---|---|---|---|
| CustomerCode | `create.body.code` | Longer than 10 characters is an error, never cut. The ERP's code. | 10 |  |  |

"""


HTML = r"""<!doctype html>
<html lang=en>
<meta charset=utf-8>
<title>Workbench - Create customer</title>
<style>body{font-family:system-ui,sans-serif;max-width:80em;margin:1em auto;padding:0 1em}table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}code{background:#f4f4f4;padding:0 .2em}</style>
<h1>Workbench - Create customer</h1>
<p>Sends an App4Sales customer to a small ERP and writes the ERP's code back.</p>
<h2>Settings</h2>
<table>
<thead><tr><th>Setting</th><th>Type</th><th>Default</th><th>Notes</th></tr></thead>
<tbody>
<tr><td>BaseUrl</td><td>string</td><td>"https://erp.example/api"</td><td>The ERP's API address.</td></tr>
<tr><td>ApiKey</td><td>string</td><td></td><td>Sent as X-Api-Key on every call. Secret.</td></tr>
<tr><td>DefaultLanguage</td><td>string</td><td>"en"</td><td>Language when the customer has none.</td></tr>
</tbody>
</table>
<h2>Steps</h2>
<ol>
<li><strong>payload</strong> (map): Build <code>payload</code> from 11 field rules (table below). Names used by the rules: <code>is_update</code> = <code>!is_empty(input.CustomerCode)</code>.</li>
<li><strong>create</strong> (send): POST <code>/customers</code> on <code>erp</code>. Outcomes: when <code>response.status == `422`</code>: error "ERP refused {{ input.CustomerName }}: {{ error_text(response.body) }}".</li>
<li><strong>save_code</strong> (writeback): Write back to the customer with CustomerGuid = <code>input.CustomerGuid</code>.</li>
</ol>
<h2>Customer payload</h2>
<table>
<thead><tr><th>Target field</th><th>Source</th><th>Logic / notes</th><th>Max length</th><th>Required</th><th>Default</th></tr></thead>
<tbody>
<tr><td>code</td><td><code>input.CustomerCode</code></td><td>Only when <code>is_update</code>. Only for an update.</td><td></td><td></td><td></td></tr>
<tr><td>name</td><td><code>input.CustomerName</code></td><td>The ERP keeps 10 characters.</td><td>10</td><td>yes</td><td></td></tr>
<tr><td>kind</td><td>Hardcoded "C"</td><td>Not when <code>is_update</code>.</td><td></td><td></td><td></td></tr>
<tr><td>email</td><td>First non-empty of <code>input.Email</code>, <code>input.ContactPersons[?!is_empty(Email)] | [0].Email</code></td><td>Left out when empty.</td><td></td><td></td><td></td></tr>
<tr><td>language</td><td><code>lower(input.LanguageCode || '')</code></td><td>Value table: nl → nl-NL, en → en-GB. Other values → null.</td><td></td><td></td><td><code>settings.DefaultLanguage</code></td></tr>
<tr><td>discount</td><td><code>input.Discount</code></td><td>Converted to number.</td><td></td><td></td><td>0</td></tr>
<tr><td>segment</td><td>Cases: "wholesale" when <code>input.Discount &gt; `10`</code>; "retail" otherwise</td><td></td><td></td><td></td><td></td></tr>
<tr><td>fax</td><td><code>input.Fax</code></td><td>Left out when empty.</td><td></td><td></td><td></td></tr>
<tr><td>label</td><td><code>{{ input.CustomerName }} ({{ input.City or '?' }})</code></td><td></td><td></td><td></td><td></td></tr>
<tr><td>address</td><td>Derived (see rows below)</td><td></td><td></td><td></td><td></td></tr>
<tr><td>address.city</td><td><code>input.City</code></td><td></td><td>5</td><td></td><td></td></tr>
<tr><td>address.country</td><td>Hardcoded "NL"</td><td></td><td></td><td></td><td></td></tr>
<tr><td>contacts</td><td>Each of <code>input.ContactPersons</code></td><td></td><td></td><td></td><td></td></tr>
<tr><td>contacts[].name</td><td><code>item.FullName</code></td><td></td><td></td><td>yes</td><td></td></tr>
<tr><td>contacts[].main</td><td><code>item.IsMainContact</code></td><td>Value table: true → Y. Other values → "N".</td><td></td><td></td><td></td></tr>
</tbody>
</table>
<h2>Mapping table: save_code</h2>
<table>
<thead><tr><th>Target field</th><th>Source</th><th>Logic / notes</th><th>Max length</th><th>Required</th><th>Default</th></tr></thead>
<tbody>
<tr><td>CustomerCode</td><td><code>create.body.code</code></td><td>Longer than 10 characters is an error, never cut. The ERP's code.</td><td>10</td><td></td><td></td></tr>
</tbody>
</table>
</html>

"""


def test_preview_explain_output_is_exact() -> None:
    out = specbridge("preview", str(SPEC), "--input", str(HERE / "preview-input.json"),
                     "--settings", str(HERE / "preview-settings.yaml"), "--explain")
    assert out == EXPLAIN, out
    assert SECRET not in out


@pytest.mark.parametrize(("args", "expected"), [((), MARKDOWN), (("--format", "markdown"), MARKDOWN),
                                                (("--format", "html"), HTML)],
                         ids=["default", "markdown", "html"])
def test_docs_output_is_exact(args: tuple[str, ...], expected: str) -> None:
    out = specbridge("docs", *args, str(SPEC))
    assert out == expected, out
