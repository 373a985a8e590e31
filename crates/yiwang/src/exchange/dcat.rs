//! The open-data catalogue as DCAT-AP (v2): a `dcat:Catalog` of `dcat:Dataset`s, each with its
//! publisher (the owning department), keywords, themes, update frequency and two
//! `dcat:Distribution`s (CSV and JSON), in JSON-LD and in Turtle. The Turtle is written here by
//! hand: every literal goes through [`literal`], every IRI is built from our own names.

use serde_json::{Value, json};

use super::Resource;
use super::ckan::{csv_url, json_url};
use super::model::THEMES;

fn dataset_iri(base: &str, r: &Resource) -> String {
    format!("{base}/opendata/{}", r.input.open_name())
}

fn publisher_iri(base: &str, r: &Resource) -> String {
    format!("{base}/opendata?organization={}", r.input.department_code.to_ascii_lowercase())
}

fn iso(ms: i64) -> String {
    crate::store::from_ms(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn jsonld(base: &str, all: &[Resource]) -> Value {
    let datasets: Vec<Value> = all
        .iter()
        .map(|r| {
            let distributions: Vec<Value> = [("CSV", "text/csv", csv_url(base, r)), ("JSON", "application/json", json_url(base, r))]
                .into_iter()
                .map(|(format, media, url)| {
                    json!({"@id": url, "@type": "dcat:Distribution", "dct:title": format!("{}（{format}）", r.input.name),
                           "dcat:accessURL": {"@id": url}, "dcat:downloadURL": {"@id": url}, "dcat:mediaType": media,
                           "dct:format": format, "dct:license": {"@id": "http://www.opendefinition.org/licenses/cc-by"}})
                })
                .collect();
            json!({
                "@id": dataset_iri(base, r), "@type": "dcat:Dataset",
                "dct:identifier": r.input.code, "dct:title": {"@value": r.input.name, "@language": "zh"},
                "dct:description": {"@value": r.input.description, "@language": "zh"},
                "dct:issued": {"@value": iso(r.created_at), "@type": "xsd:dateTime"},
                "dct:modified": {"@value": iso(r.updated_at), "@type": "xsd:dateTime"},
                "dct:publisher": {"@id": publisher_iri(base, r), "@type": "foaf:Organization", "foaf:name": r.department_name},
                "dct:accrualPeriodicity": {"@id": r.input.update_cycle.dcat_frequency()},
                "dcat:keyword": r.input.tags,
                "dcat:theme": r.input.themes.iter().map(|t| json!({"@id": format!("{base}/opendata?groups={t}")})).collect::<Vec<_>>(),
                "dcat:landingPage": {"@id": dataset_iri(base, r)},
                "dcat:distribution": distributions
            })
        })
        .collect();
    json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/", "xsd": "http://www.w3.org/2001/XMLSchema#"
        },
        "@id": format!("{base}/opendata"), "@type": "dcat:Catalog",
        "dct:title": {"@value": "一网开放数据", "@language": "zh"},
        "dct:description": {"@value": "城市数据资源目录中的开放数据集", "@language": "zh"},
        "foaf:homepage": {"@id": format!("{base}/opendata")},
        "dcat:dataset": datasets
    })
}

/// A Turtle string literal: quotes, backslashes and control characters escaped (Turtle 1.1 ECHAR).
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An IRI reference; the characters Turtle forbids inside `<>` are percent-encoded.
fn iri(s: &str) -> String {
    let mut out = String::from("<");
    for c in s.chars() {
        if matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '^' | '`' | '\\') || (c as u32) <= 0x20 {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('>');
    out
}

pub fn turtle(base: &str, all: &[Resource]) -> String {
    let mut t = String::from(
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n@prefix dct: <http://purl.org/dc/terms/> .\n\
         @prefix foaf: <http://xmlns.com/foaf/0.1/> .\n@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n\n",
    );
    let catalog = iri(&format!("{base}/opendata"));
    t.push_str(&format!("{catalog} a dcat:Catalog ;\n    dct:title {}@zh ;\n", literal("一网开放数据")));
    t.push_str(&format!(
        "    dct:description {}@zh ;\n    foaf:homepage {catalog}",
        literal("城市数据资源目录中的开放数据集")
    ));
    for r in all {
        t.push_str(&format!(" ;\n    dcat:dataset {}", iri(&dataset_iri(base, r))));
    }
    t.push_str(" .\n");
    for r in all {
        let ds = iri(&dataset_iri(base, r));
        t.push_str(&format!("\n{ds} a dcat:Dataset ;\n    dct:identifier {} ;\n", literal(&r.input.code)));
        t.push_str(&format!(
            "    dct:title {}@zh ;\n    dct:description {}@zh ;\n",
            literal(&r.input.name),
            literal(&r.input.description)
        ));
        t.push_str(&format!(
            "    dct:issued {}^^xsd:dateTime ;\n    dct:modified {}^^xsd:dateTime ;\n",
            literal(&iso(r.created_at)),
            literal(&iso(r.updated_at))
        ));
        t.push_str(&format!("    dct:publisher {} ;\n", iri(&publisher_iri(base, r))));
        t.push_str(&format!("    dct:accrualPeriodicity {} ;\n", iri(r.input.update_cycle.dcat_frequency())));
        for k in &r.input.tags {
            t.push_str(&format!("    dcat:keyword {}@zh ;\n", literal(k)));
        }
        for theme in &r.input.themes {
            t.push_str(&format!("    dcat:theme {} ;\n", iri(&format!("{base}/opendata?groups={theme}"))));
        }
        t.push_str(&format!("    dcat:landingPage {} ;\n", ds));
        t.push_str(&format!("    dcat:distribution {}, {} .\n", iri(&csv_url(base, r)), iri(&json_url(base, r))));
        t.push_str(&format!(
            "\n{} a foaf:Organization ;\n    foaf:name {}@zh .\n",
            iri(&publisher_iri(base, r)),
            literal(&r.department_name)
        ));
        for (format, media, url) in
            [("CSV", "text/csv", csv_url(base, r)), ("JSON", "application/json", json_url(base, r))]
        {
            let d = iri(&url);
            t.push_str(&format!(
                "\n{d} a dcat:Distribution ;\n    dct:title {}@zh ;\n    dcat:accessURL {d} ;\n    dcat:downloadURL {d} ;\n    dcat:mediaType {} ;\n    dct:format {} ;\n    dct:license <http://www.opendefinition.org/licenses/cc-by> .\n",
                literal(&format!("{}（{format}）", r.input.name)),
                literal(media),
                literal(format)
            ));
        }
    }
    for (name, zh, _) in THEMES {
        if all.iter().any(|r| r.input.themes.iter().any(|t| t == name)) {
            t.push_str(&format!(
                "\n{} dct:title {}@zh .\n",
                iri(&format!("{base}/opendata?groups={name}")),
                literal(zh)
            ));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turtle_escapes_literals_and_iris() {
        assert_eq!(literal("a \"b\"\n\\c"), "\"a \\\"b\\\"\\n\\\\c\"");
        assert_eq!(iri("http://x/a b>"), "<http://x/a%20b%3E>");
    }
}
