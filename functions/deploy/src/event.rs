//! Which deploy requests an S3 event announces.
//!
//! The bucket notification fires on every `s3:ObjectCreated:*` under the stack's blob prefix;
//! only keys `<prefix>deploy/<deployment>/<request-id>/request.json` are requests. Everything
//! else (specs, results, packages) is skipped with a log line. S3 URL-encodes event keys; a valid
//! request key has no character that needs encoding, so an encoded key is simply not a request.

use aws_lambda_events::event::s3::S3Event;
use ferry_deploy::{RequestKey, parse_request_key};

/// The requests of `event` in record order (duplicates kept out), and the keys skipped with why.
pub fn request_keys(
    event: &S3Event,
    blob_prefix: &str,
) -> (Vec<RequestKey>, Vec<(String, String)>) {
    let mut keys: Vec<RequestKey> = Vec::new();
    let mut skipped = Vec::new();
    for record in &event.records {
        let Some(key) = record.s3.object.key.as_deref() else {
            skipped.push((String::new(), "the record has no object key".to_string()));
            continue;
        };
        if let Some(name) = record.event_name.as_deref()
            && !name.starts_with("ObjectCreated:")
        {
            skipped.push((
                key.to_string(),
                format!("event {name} is not an object creation"),
            ));
            continue;
        }
        let Some(relative) = key.strip_prefix(blob_prefix) else {
            skipped.push((
                key.to_string(),
                format!("outside the blob prefix {blob_prefix:?}"),
            ));
            continue;
        };
        match parse_request_key(relative) {
            Ok(k) if !keys.contains(&k) => keys.push(k),
            Ok(_) => {}
            Err(e) => skipped.push((key.to_string(), e.to_string())),
        }
    }
    (keys, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> S3Event {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn finds_request_keys_and_skips_the_rest() {
        let (keys, skipped) = request_keys(&event("s3-put-request.json"), "ferry/");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].deployment, "fraud_model.test.feature_x.ScoreFlow");
        assert_eq!(
            keys[0].request_id.as_str(),
            "0b8c8d1e-6a1f-4a53-9e52-1f3c2f4f7a10"
        );
        let why: Vec<&str> = skipped.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            why,
            vec![
                "ferry/deploy/fraud_model.test.feature_x.ScoreFlow/0b8c8d1e-6a1f-4a53-9e52-1f3c2f4f7a10/spec.json",
                "metaflow/deploy/HelloFlow/0b8c8d1e-6a1f-4a53-9e52-1f3c2f4f7a10/request.json",
                "ferry/deploy/Hello+Flow/0b8c8d1e-6a1f-4a53-9e52-1f3c2f4f7a10/request.json",
            ]
        );
    }

    #[test]
    fn a_repeated_record_is_one_request() {
        let mut e = event("s3-put-request.json");
        e.records.truncate(1);
        let again = e.records[0].clone();
        e.records.push(again);
        assert_eq!(request_keys(&e, "ferry/").0.len(), 1);
    }
}
