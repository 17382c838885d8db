//! The what-if form's body: pasted Cedar text (urlencoded, or a field of a multipart form) and
//! uploaded files (multipart), read with a bound on the whole candidate and on the file count.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;

use super::ConsoleError;
use super::signin::form_body;
use crate::http::ApiError;

/// The candidate's text at most (every file and the pasted text together).
pub const MAX_CANDIDATE_BYTES: usize = 512 * 1024;
/// Files in one upload at most.
pub const MAX_FILES: usize = 64;
/// The name pasted text gets when it is the whole candidate, or a lone upload not named `*.cedar`.
pub const PASTED_NAME: &str = "candidate.cedar";

/// The what-if form's fields.
#[derive(Debug, Default, serde::Deserialize)]
pub struct WhatIf {
    /// The session's anti-forgery token.
    #[serde(default)]
    pub csrf: String,
    /// Pasted policy text.
    #[serde(default)]
    pub policies: String,
    /// Only this project's decisions.
    #[serde(default)]
    pub project: String,
    /// Only this action's decisions.
    #[serde(default)]
    pub action: String,
    /// Uploaded files by name (multipart only).
    #[serde(skip)]
    pub uploads: Vec<(String, String)>,
}

impl WhatIf {
    /// Reads the form, urlencoded or multipart.
    pub async fn read(request: Request) -> Result<Self, ConsoleError> {
        let multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if !multipart {
            let form = Form::<Self>::from_request(request, &()).await;
            let fields = form_body(form)?;
            if fields.policies.len() > MAX_CANDIDATE_BYTES {
                return Err(ConsoleError::Api(ApiError::PayloadTooLarge));
            }
            return Ok(fields);
        }
        let mut body = Multipart::from_request(request, &())
            .await
            .map_err(|_| unreadable())?;
        let mut fields = Self::default();
        let mut total = 0usize;
        while let Some(mut field) = body.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or_default().to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                total += chunk.len();
                if total > MAX_CANDIDATE_BYTES {
                    return Err(ConsoleError::Api(ApiError::PayloadTooLarge));
                }
                bytes.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(bytes).map_err(|_| {
                ConsoleError::Api(ApiError::BadRequest(format!(
                    "`{}` is not UTF-8 text",
                    file_name.as_deref().unwrap_or(&name)
                )))
            })?;
            match name.as_str() {
                "csrf" => fields.csrf = text,
                "policies" => fields.policies = text,
                "project" => fields.project = text,
                "action" => fields.action = text,
                // A file input with nothing chosen still sends an empty part with no name.
                "files" => {
                    let Some(file) = file_name.as_deref().map(base_name).filter(|n| !n.is_empty()) else {
                        continue;
                    };
                    if fields.uploads.len() == MAX_FILES {
                        return Err(ConsoleError::Api(ApiError::BadRequest(format!(
                            "upload at most {MAX_FILES} files"
                        ))));
                    }
                    fields.uploads.push((file.to_owned(), text));
                }
                _ => {}
            }
        }
        Ok(fields)
    }

    /// The candidate set: the uploaded files, plus the pasted text when there is any. A lone
    /// upload is the whole set whatever its name; several must each be a `*.cedar` file (the
    /// admission service checks the names, as it does for the API).
    pub fn candidate(&self) -> Result<BTreeMap<String, String>, ConsoleError> {
        let mut files = BTreeMap::new();
        let lone = self.uploads.len() == 1;
        for (name, text) in &self.uploads {
            let name = if lone && !name.ends_with(".cedar") {
                PASTED_NAME.to_owned()
            } else {
                name.clone()
            };
            if files.insert(name.clone(), text.clone()).is_some() {
                return Err(ConsoleError::Api(ApiError::BadRequest(format!(
                    "two files are named `{name}`"
                ))));
            }
        }
        if !self.policies.trim().is_empty() {
            let name = if files.is_empty() {
                PASTED_NAME
            } else {
                "pasted.cedar"
            };
            if files.insert(name.to_owned(), self.policies.clone()).is_some() {
                return Err(ConsoleError::Api(ApiError::BadRequest(format!(
                    "an uploaded file is named `{name}`, as the pasted text would be; rename it"
                ))));
            }
        }
        Ok(files)
    }
}

/// The last path segment of an uploaded file's name (browsers send the bare name; some old
/// ones a whole path).
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name).trim()
}

fn unreadable() -> ConsoleError {
    ConsoleError::Api(ApiError::BadRequest(
        "the form could not be read; send it from the console's page".to_owned(),
    ))
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> ConsoleError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ConsoleError::Api(ApiError::PayloadTooLarge)
    } else {
        unreadable()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn form(uploads: &[(&str, &str)], pasted: &str) -> WhatIf {
        WhatIf {
            policies: pasted.to_owned(),
            uploads: uploads
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
            ..WhatIf::default()
        }
    }

    #[test]
    fn pasted_text_alone_is_the_candidate() {
        let set = form(&[], "permit(principal, action, resource);")
            .candidate()
            .unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), ["candidate.cedar"]);
    }

    #[test]
    fn uploads_keep_their_names_and_a_lone_file_is_the_whole_set() {
        let set = form(&[("a.cedar", "x"), ("b.cedar", "y")], "")
            .candidate()
            .unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), ["a.cedar", "b.cedar"]);
        let set = form(&[("policies.txt", "x")], "").candidate().unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), ["candidate.cedar"]);
        let set = form(&[("a.cedar", "x")], "z").candidate().unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), ["a.cedar", "pasted.cedar"]);
        assert!(
            form(&[("a.cedar", "x"), ("a.cedar", "y")], "")
                .candidate()
                .is_err()
        );
    }

    #[test]
    fn only_the_last_path_segment_names_a_file() {
        assert_eq!(base_name(r"C:\policies\base.cedar"), "base.cedar");
        assert_eq!(base_name("dir/base.cedar"), "base.cedar");
        assert_eq!(base_name(""), "");
    }
}
