use super::*;

fn accepts(source_type: SourceType, uri: &str) {
    let source_ref = (source_type == SourceType::Huggingface).then_some("main");
    assert_eq!(check_source(&source_type, uri, source_ref), Ok(()), "{uri}");
}

fn refuses(source_type: SourceType, uri: &str) {
    let source_ref = (source_type == SourceType::Huggingface).then_some("main");
    let refusal = check_source(&source_type, uri, source_ref).expect_err(uri);
    assert_eq!(refusal.field, "uri", "{uri}: {refusal:?}");
}

#[test]
fn every_type_refuses_empty_multi_line_and_oversized_uris() {
    let contributed: SourceType = "minio_eu".parse().unwrap();
    for source_type in SourceType::BUILTIN.iter().chain([&contributed]) {
        refuses(source_type.clone(), "");
        refuses(source_type.clone(), "s3://bucket/key\r\nX-Injected: 1");
        refuses(source_type.clone(), "https://models.example/w\u{0}.bin");
        refuses(source_type.clone(), "not a uri");
        refuses(
            source_type.clone(),
            &format!("store://{}", "a".repeat(MAX_LOCATION_LEN)),
        );
    }
}

#[test]
fn a_contributed_type_without_protocol_needs_a_scheme() {
    let minio: SourceType = "minio_eu".parse().unwrap();
    for uri in ["minio://eu-1/bucket/w.bin", "s3+tls://b/k", "x://y"] {
        accepts(minio.clone(), uri);
    }
    for uri in [
        "minio:/b",
        "://b/k",
        "1x://b",
        "bucket/key",
        "minio://",
        "mi_nio://b",
    ] {
        refuses(minio.clone(), uri);
    }
}

#[test]
fn oci_registry_grammar() {
    for uri in [
        "registry.local/gpuaas/apps/team-a/api",
        "oci://registry.example.com/team/app",
        "127.0.0.1:5000/gpuaas/apps/team-a/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "localhost:5000/a/b:v1.2",
        "ghcr.io/org/image__x:latest",
    ] {
        accepts(SourceType::OciRegistry, uri);
    }
    for uri in [
        "oci://x",
        "registry.local",
        "registry.local/Upper/Case",
        "registry.local/a//b",
        "registry.local/a/b@sha256:short",
        "registry.local/a/b:bad!tag",
        "user:pw@registry.local/a/b",
        "https://registry.local/a/b",
        "file:///etc/passwd",
    ] {
        refuses(SourceType::OciRegistry, uri);
    }
}

#[test]
fn s3_grammar() {
    accepts(SourceType::S3, "s3://my-bucket/models/w.bin");
    accepts(SourceType::S3, "s3://my.bucket.1/k");
    for uri in [
        "s3://my-bucket",
        "s3://my-bucket/",
        "s3://ab/key",
        "s3://My-Bucket/key",
        "s3://-bucket/key",
        "s3://192.168.1.1/key",
        "gs://my-bucket/key",
        "https://my-bucket.s3.amazonaws.com/key",
    ] {
        refuses(SourceType::S3, uri);
    }
}

#[test]
fn gcs_grammar() {
    accepts(SourceType::Gcs, "gs://my-bucket/path/to/object.safetensors");
    for uri in [
        "gs://my-bucket",
        "gs://UP/object",
        "s3://my-bucket/o",
        "gcs://my-bucket/o",
    ] {
        refuses(SourceType::Gcs, uri);
    }
}

#[test]
fn azure_blob_grammar() {
    accepts(
        SourceType::AzureBlob,
        "https://acct01.blob.core.windows.net/models/llm/w.bin?sv=2024&sig=s3cr3t",
    );
    for uri in [
        "https://acct01.blob.core.windows.net/models",
        "https://acct01.blob.core.windows.net/Models/w.bin",
        "https://AB.blob.core.windows.net/models/w.bin",
        "https://acct01.example.com/models/w.bin",
        "http://acct01.blob.core.windows.net/models/w.bin",
        "az://acct01/models/w.bin",
    ] {
        refuses(SourceType::AzureBlob, uri);
    }
}

#[test]
fn https_grammar() {
    for uri in [
        "https://models.example.com/w.bin",
        "https://reader:hunter2@models.example.com/w.bin?X-Amz-Signature=abc&rev=7",
        "https://127.0.0.1:8443/models/llm/weights.bin",
        "https://[::1]:8443/w",
        "https://downloads.example",
    ] {
        accepts(SourceType::Https, uri);
    }
    for uri in [
        "http://models.example.com/w.bin",
        "HTTPS://models.example.com/w.bin",
        "file:///etc/passwd",
        "gopher://models.example.com/",
        "https://169.254.169.254/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://[fe80::1]/x",
        "https://[::ffff:169.254.169.254]/x",
        "https://2852039166/x",
        "https://0xa9.0xfe.0xa9.0xfe/x",
        "https://0251.0376.0251.0376/x",
        "https://models.example.com\\@evil.example/x",
        "https://models.example.com:99999/x",
        "https:///x",
        "https://user@/x",
        "https://exa_mple.com/x",
    ] {
        refuses(SourceType::Https, uri);
    }
}

#[test]
fn huggingface_grammar_needs_a_revision() {
    for uri in [
        "hf://acme/llm-7b/model.safetensors",
        "hf://datasets/acme/corpus",
        "https://huggingface.co/acme/tiny-model",
    ] {
        accepts(SourceType::Huggingface, uri);
    }
    assert_eq!(
        check_source(
            &SourceType::Huggingface,
            "hf://acme/llm@0123abc/model.safetensors",
            None
        ),
        Ok(())
    );
    assert_eq!(
        check_source(
            &SourceType::Huggingface,
            "https://huggingface.co/acme/llm/resolve/main/w.safetensors",
            None
        ),
        Ok(())
    );
    let unpinned = check_source(&SourceType::Huggingface, "hf://acme/llm", None).unwrap_err();
    assert_eq!(unpinned.field, "source_ref");
    let bad_ref = check_source(&SourceType::Huggingface, "hf://acme/llm", Some("main\n")).unwrap_err();
    assert_eq!(bad_ref.field, "source_ref");
    for uri in [
        "hf://acme",
        "hf://acme/",
        "hf://-acme/llm",
        "https://example.com/acme/llm",
        "http://huggingface.co/acme/llm",
        "hf://acme/llm@bad rev",
    ] {
        refuses(SourceType::Huggingface, uri);
    }
}

#[test]
fn artifact_store_grammar() {
    accepts(
        SourceType::ArtifactStore,
        "store://models/llm/weights.safetensors",
    );
    for uri in [
        "store://",
        "store://../x",
        "store:///abs",
        "store://a//b",
        "store://a/./b",
        "store://a?x=1",
        "store://a%2e%2e/b",
        "s3://bucket/key",
    ] {
        refuses(SourceType::ArtifactStore, uri);
    }
}
