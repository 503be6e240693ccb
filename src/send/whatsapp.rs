//! The WhatsApp Cloud API client (blocking `ureq`), in Meta's documented shapes:
//! - `POST /{version}/{phone-number-id}/media`, multipart (`messaging_product=whatsapp`, `type`,
//!   `file`) -> `{"id": MEDIA_ID}`: the card image, uploaded once per image hash (cached in the
//!   store, `send_media`);
//! - `POST /{version}/{phone-number-id}/messages`, JSON: a `template` message whose header
//!   parameter is the image by media ID and whose body parameters are card fields, or free-form
//!   `text` (only inside the 24 h customer service window) -> `{"messages": [{"id": "wamid..."}]}`.
//!   The request carries kadi's message ID in `biz_opaque_callback_data`, so a webhook relay (or
//!   a person reading Meta's logs) can tie a delivery to the outbox row.
//!
//! Errors (`{"error": {"code": N, "message": ...}}`) are classified as they mean ([`classify`]):
//! 131047 outside the 24 h window -> send the template; 131026 undeliverable -> permanent;
//! 130429 throughput -> retry the channel with backoff; 131056 pair rate limit -> pace that
//! number; 132000-132999 template problems and 190 expired token -> stop the channel and alert.
//! The token travels only in the `Authorization` header, never in an error or a log line.
use super::outcome::{self, Outcome, Scope};
use std::time::Duration;

/// A client for one configured business phone number.
pub struct WhatsappClient {
    agent: ureq::Agent,
    /// `{base}/{version}/{phone-number-id}`.
    root: String,
    token: String,
}

/// One error object of the Graph API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
struct GraphError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_data: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: GraphError,
}

impl WhatsappClient {
    /// A client for `config` with `token` (connect within 10 s, answer within `answer`).
    pub fn new(config: &super::config::WhatsappConfig, token: &str, answer: Duration) -> Self {
        WhatsappClient {
            agent: outcome::agent(Duration::from_secs(10).min(answer), answer),
            root: format!(
                "{}/{}/{}",
                config.base_url.trim_end_matches('/'),
                config.api_version.trim_matches('/'),
                config.phone_number_id.trim()
            ),
            token: token.to_string(),
        }
    }

    /// Uploads a PNG image; answers its media ID. An upload sends nothing to anyone, so a lost
    /// answer is only a retry.
    pub fn upload_png(&self, png: &[u8]) -> Result<String, Outcome> {
        let boundary = format!(
            "kadi{}",
            crate::secret::hex(&crate::secret::random_bytes::<12>().unwrap_or([7; 12]))
        );
        let body = multipart(&boundary, png);
        let url = format!("{}/media", self.root);
        let response = self
            .agent
            .post(&url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .send(&body[..]);
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return Err(outcome::transport(&e, "WhatsApp media upload", true)),
        };
        let status = response.status().as_u16();
        let after = outcome::retry_after(&response);
        let text = outcome::body_text(&mut response);
        if (200..300).contains(&status) {
            let id = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string));
            return id.ok_or_else(|| Outcome::Retry {
                reason: "WhatsApp media upload answered without a media id".into(),
                after: None,
                scope: Scope::Message,
            });
        }
        Err(classify(status, &text, after))
    }

    /// Sends a template message: header image `media_id`, body `params`.
    pub fn send_template(
        &self,
        to: &str,
        template: &super::config::WhatsappConfig,
        media_id: &str,
        params: &[String],
        message_id: &str,
    ) -> Outcome {
        let body = template_request(to, template, media_id, params, message_id);
        self.post_message(&body)
    }

    /// Sends free-form text (only inside the 24 h window; 131047 otherwise).
    pub fn send_text(&self, to: &str, text: &str, message_id: &str) -> Outcome {
        let body = serde_json::json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.trim_start_matches('+'),
            "type": "text",
            "text": { "preview_url": false, "body": text },
            "biz_opaque_callback_data": message_id,
        });
        self.post_message(&body)
    }

    fn post_message(&self, body: &serde_json::Value) -> Outcome {
        let url = format!("{}/messages", self.root);
        let response = self
            .agent
            .post(&url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes());
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return outcome::transport(&e, "WhatsApp messages", false),
        };
        let status = response.status().as_u16();
        let after = outcome::retry_after(&response);
        let text = match response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) if (200..300).contains(&status) => {
                return Outcome::Ambiguous(format!(
                    "WhatsApp answered {status} and its answer was cut ({e}); the message may have been accepted"
                ))
            }
            Err(_) => String::new(),
        };
        if (200..300).contains(&status) {
            let id = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    v.pointer("/messages/0/id")
                        .and_then(|i| i.as_str())
                        .map(str::to_string)
                });
            return match id {
                Some(id) => Outcome::Accepted {
                    provider_id: Some(id),
                },
                None => Outcome::Ambiguous(format!(
                    "WhatsApp answered {status} without a message id; the message may have been accepted"
                )),
            };
        }
        classify(status, &text, after)
    }
}

/// The JSON of a template message (also what the benchmark builds).
pub fn template_request(
    to: &str,
    template: &super::config::WhatsappConfig,
    media_id: &str,
    params: &[String],
    message_id: &str,
) -> serde_json::Value {
    let body_params: Vec<serde_json::Value> = params
        .iter()
        .map(|p| serde_json::json!({ "type": "text", "text": p }))
        .collect();
    serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.trim_start_matches('+'),
        "type": "template",
        "template": {
            "name": template.template,
            "language": { "code": template.lang },
            "components": [
                { "type": "header", "parameters": [ { "type": "image", "image": { "id": media_id } } ] },
                { "type": "body", "parameters": body_params },
            ],
        },
        "biz_opaque_callback_data": message_id,
    })
}

fn multipart(boundary: &str, png: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(png.len() + 512);
    for (name, value) in [("messaging_product", "whatsapp"), ("type", "image/png")] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"card.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// What an error answer means (see the module doc).
pub fn classify(status: u16, body: &str, after: Option<Duration>) -> Outcome {
    let err = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_default();
    let details = err
        .error_data
        .as_ref()
        .and_then(|d| d.get("details"))
        .and_then(|d| d.as_str())
        .unwrap_or("");
    let what = format!(
        "WhatsApp error {} ({status}): {}{}{}",
        err.code,
        crate::output::escape_log(&err.message, 300),
        if details.is_empty() { "" } else { ": " },
        crate::output::escape_log(details, 300)
    );
    match err.code {
        190 => Outcome::StopChannel(format!(
            "{what}; the access token expired or was revoked: configure a new one with `kadi send config whatsapp --token-stdin`"
        )),
        131047 => Outcome::AsTemplate(what),
        131026 => Outcome::Permanent(format!(
            "{what}; the number cannot receive WhatsApp messages (no WhatsApp, or an old app)"
        )),
        130429 => Outcome::Retry {
            reason: what,
            after,
            scope: Scope::Channel,
        },
        131056 => Outcome::Retry {
            reason: what,
            after,
            scope: Scope::Number,
        },
        132000..=132999 => Outcome::StopChannel(format!(
            "{what}; the template is missing, paused or does not match its parameters: fix it in WhatsApp Manager or `kadi send config whatsapp --template`"
        )),
        // Token/permission problems without 190, and the app's own rate limits.
        10 | 200..=299 => Outcome::StopChannel(format!("{what}; the token lacks a permission")),
        4 | 80007 => Outcome::Retry {
            reason: what,
            after,
            scope: Scope::Channel,
        },
        // Media ID unknown or expired: upload again.
        131053 => Outcome::Retry {
            reason: format!("{what}; the image will be uploaded again"),
            after: None,
            scope: Scope::Message,
        },
        _ => match status {
            401 => Outcome::StopChannel(format!("{what}; authentication failed")),
            429 => Outcome::Retry {
                reason: what,
                after,
                scope: Scope::Channel,
            },
            500..=599 | 408 => Outcome::Retry {
                reason: what,
                after,
                scope: Scope::Message,
            },
            _ => Outcome::Permanent(what),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: i64) -> String {
        serde_json::json!({"error": {"message": "m", "type": "OAuthException", "code": code}})
            .to_string()
    }

    #[test]
    fn each_documented_error_code_maps_to_what_it_means() {
        assert!(matches!(
            classify(401, &err(190), None),
            Outcome::StopChannel(_)
        ));
        assert!(matches!(
            classify(400, &err(131047), None),
            Outcome::AsTemplate(_)
        ));
        assert!(matches!(
            classify(400, &err(131026), None),
            Outcome::Permanent(_)
        ));
        assert!(matches!(
            classify(429, &err(130429), Some(Duration::from_secs(3))),
            Outcome::Retry {
                scope: Scope::Channel,
                after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            classify(400, &err(131056), None),
            Outcome::Retry {
                scope: Scope::Number,
                ..
            }
        ));
        for code in [132000, 132001, 132005, 132012, 132015, 132016] {
            assert!(matches!(
                classify(400, &err(code), None),
                Outcome::StopChannel(_)
            ));
        }
        assert!(matches!(
            classify(503, "<html>", None),
            Outcome::Retry {
                scope: Scope::Message,
                ..
            }
        ));
        assert!(matches!(
            classify(400, &err(100), None),
            Outcome::Permanent(_)
        ));
    }

    #[test]
    fn a_template_request_carries_the_image_by_id_the_body_parameters_and_the_message_id() {
        let cfg = super::super::config::WhatsappConfig {
            base_url: "http://x".into(),
            api_version: "v21.0".into(),
            phone_number_id: "1".into(),
            template: "kadi_card".into(),
            lang: "fr".into(),
            body_fields: vec![],
            card_template: "pulse".into(),
            dpi: 300,
        };
        let v = template_request("+221771234567", &cfg, "MEDIA1", &["Awa".into()], "m1");
        assert_eq!(v["to"], "221771234567");
        assert_eq!(v["template"]["name"], "kadi_card");
        assert_eq!(v["template"]["language"]["code"], "fr");
        assert_eq!(
            v["template"]["components"][0]["parameters"][0]["image"]["id"],
            "MEDIA1"
        );
        assert_eq!(
            v["template"]["components"][1]["parameters"][0]["text"],
            "Awa"
        );
        assert_eq!(v["biz_opaque_callback_data"], "m1");
    }
}
