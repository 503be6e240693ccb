//! DHIS2's dataStore (`/api/dataStore/{namespace}/{key}`): a JSON value per key, instance-wide.
//! kadi boxes exchange card-verification keys and revocations through it (namespace `kadi`).
//! DHIS2 answers 404 for a missing namespace or key, 409 to a POST of an existing key, and 404 to
//! a PUT of a missing one: [`Client::datastore_put`] updates, and creates when told it is missing.
use super::{Client, Dhis2Error};
use std::sync::atomic::Ordering;

/// A dataStore namespace or key as a path segment: DHIS2 keys are free text, so anything outside
/// `[A-Za-z0-9._-]` is percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Client {
    /// The keys of `namespace` (empty when DHIS2 does not know the namespace: 404).
    pub fn datastore_keys(&self, namespace: &str) -> Result<Vec<String>, Dhis2Error> {
        match self.get_json::<Vec<String>>(&format!("dataStore/{}", segment(namespace)), &[], false)
        {
            Ok((keys, _)) => Ok(keys),
            Err(Dhis2Error::Rejected { status: 404, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The value under `namespace`/`key`, `None` when there is none (404).
    pub fn datastore_get(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<serde_json::Value>, Dhis2Error> {
        let path = format!("dataStore/{}/{}", segment(namespace), segment(key));
        match self.get_json::<serde_json::Value>(&path, &[], false) {
            Ok((value, _)) => Ok(Some(value)),
            Err(Dhis2Error::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `value` under `namespace`/`key`: PUT (update), then POST (create) when DHIS2 says
    /// the key does not exist yet.
    pub fn datastore_put(
        &self,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), Dhis2Error> {
        match self.datastore_write("PUT", namespace, key, value) {
            Err(Dhis2Error::Rejected { status: 404, .. }) => {
                self.datastore_write("POST", namespace, key, value)
            }
            other => other,
        }
    }

    fn datastore_write(
        &self,
        method: &str,
        namespace: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), Dhis2Error> {
        let url = format!(
            "{}/api/dataStore/{}/{}",
            self.config.base_url,
            segment(namespace),
            segment(key)
        );
        let body = serde_json::to_vec(value).map_err(|e| Dhis2Error::Malformed(e.to_string()))?;
        let auth = self.config.auth.header_value();
        let request = match method {
            "POST" => self.agent.post(&url),
            _ => self.agent.put(&url),
        }
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("Authorization", auth);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send(&body[..])
            .map_err(|e| super::transport_error(e, &url))?;
        let cache_key = url.clone();
        self.answer(response, url, cache_key, false).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_percent_encoded_as_path_segments() {
        assert_eq!(super::segment("keys-K7Q2M9XPZA"), "keys-K7Q2M9XPZA");
        assert_eq!(super::segment("a/b c?"), "a%2Fb%20c%3F");
    }
}
