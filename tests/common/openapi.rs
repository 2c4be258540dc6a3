//! Checks live HTTP responses against docs/openapi.json: the status is documented for the
//! operation, the content type is one it lists (none for a response without content), the
//! required headers are there, and JSON bodies match their schemas (the subset of OpenAPI
//! 3.0's schema the document uses: type, required, properties, additionalProperties,
//! items, min/maxItems, enum, minimum/maximum, nullable, $ref).

use super::http::HttpResponse;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// (path template, method, status).
pub type Operation = (String, String, String);

pub struct OpenApi {
    doc: Value,
    seen: RefCell<BTreeSet<Operation>>,
}

impl OpenApi {
    pub fn load() -> OpenApi {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let doc = serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json")).expect("valid JSON");
        OpenApi { doc, seen: RefCell::new(BTreeSet::new()) }
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').expect("local $ref");
                self.resolve(self.doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}")))
            }
            None => v,
        }
    }

    /// The documented path template `path` (no query) falls under.
    fn template(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                ts.len() == segments.len()
                    && ts.iter().zip(&segments).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
            })
            .unwrap_or_else(|| panic!("{path} is not in docs/openapi.json"))
            .clone()
    }

    /// Asserts `r`, the answer to `method path`, is what the document says it may be.
    pub fn check(&self, method: &str, path: &str, r: &HttpResponse) {
        let path = path.split('?').next().unwrap();
        let template = self.template(path);
        let method = method.to_ascii_lowercase();
        let what = format!("{method} {path} → {}", r.status);
        let op = &self.doc["paths"][&template][&method];
        assert!(op.is_object(), "{what}: {method} {template} is not documented");
        let status = r.status.to_string();
        let response = self.resolve(
            op["responses"].get(&status).unwrap_or_else(|| panic!("{what}: status not documented ({})", r.text())),
        );
        if let Some(headers) = response.get("headers").and_then(Value::as_object) {
            for (name, h) in headers {
                let value = r.header(name);
                if h["required"] == true {
                    assert!(value.is_some(), "{what}: no {name} header");
                }
                if let (Some(v), Some(allowed)) = (value, h["schema"]["enum"].as_array()) {
                    assert!(allowed.iter().any(|a| a == v), "{what}: {name}: {v} not in {allowed:?}");
                }
            }
        }
        match response.get("content").and_then(Value::as_object) {
            None => {
                assert!(r.body.is_empty(), "{what}: documented without content, got {:?}", r.text());
                assert_eq!(r.header("content-type"), None, "{what}");
            }
            Some(content) => {
                let ct = r.header("content-type").unwrap_or_else(|| panic!("{what}: no content-type"));
                let media = content.get(ct).unwrap_or_else(|| panic!("{what}: content-type {ct} not documented"));
                if ct == "application/json" {
                    let body: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{what}: {e}"));
                    if let Err(e) = self.validate(&body, &media["schema"], "$") {
                        panic!("{what}: {e}\n{body}");
                    }
                }
            }
        }
        self.seen.borrow_mut().insert((template, method, status));
    }

    fn validate(&self, v: &Value, schema: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if v.is_null() {
            return if schema["nullable"] == true { Ok(()) } else { Err(format!("{at}: null, not nullable")) };
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(v) {
                return Err(format!("{at}: {v} not in {allowed:?}"));
            }
        }
        match schema["type"].as_str() {
            Some("object") => {
                let obj = v.as_object().ok_or(format!("{at}: not an object"))?;
                for r in schema["required"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap();
                    if !obj.contains_key(r) {
                        return Err(format!("{at}: missing {r}"));
                    }
                }
                let props = schema["properties"].as_object();
                for (k, value) in obj {
                    match props.and_then(|p| p.get(k)) {
                        Some(s) => self.validate(value, s, &format!("{at}.{k}"))?,
                        None if schema["additionalProperties"] == false => return Err(format!("{at}: unexpected {k}")),
                        None => {}
                    }
                }
            }
            Some("array") => {
                let items = v.as_array().ok_or(format!("{at}: not an array"))?;
                if schema["minItems"].as_u64().is_some_and(|n| (items.len() as u64) < n)
                    || schema["maxItems"].as_u64().is_some_and(|n| (items.len() as u64) > n)
                {
                    return Err(format!("{at}: {} items", items.len()));
                }
                for (i, item) in items.iter().enumerate() {
                    self.validate(item, &schema["items"], &format!("{at}[{i}]"))?;
                }
            }
            Some("string") if !v.is_string() => return Err(format!("{at}: not a string")),
            Some("boolean") if !v.is_boolean() => return Err(format!("{at}: not a boolean")),
            Some("integer") => {
                let n = v.as_i64().ok_or(format!("{at}: not an integer"))?;
                if schema["minimum"].as_i64().is_some_and(|m| n < m)
                    || schema["maximum"].as_i64().is_some_and(|m| n > m)
                {
                    return Err(format!("{at}: {n} out of range"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Every (path, method, status) the document lists.
    pub fn documented(&self) -> BTreeSet<Operation> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                    for status in responses.keys() {
                        out.insert((path.clone(), method.clone(), status.clone()));
                    }
                }
            }
        }
        out
    }

    pub fn seen(&self) -> BTreeSet<Operation> {
        self.seen.borrow().clone()
    }
}
