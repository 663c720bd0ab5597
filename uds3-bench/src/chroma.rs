//! Chroma: the library's batched adds against one `add` request of all
//! vectors (base64 little-endian f32, the fastest form measured).

use batch_chroma::{ChromaBatchInserter, ChromaClient, Metadata, MetadataValue, metadata};

use test_support::test_servers::Endpoints;

use crate::backend::Backend;
use crate::corpus;
use crate::drive::{CLOSE_TIMEOUT, Run, drive, post_each, raw_chunk, timed};
use crate::mode::{Mode, Profile};

const DIM: usize = 384;

pub struct Chroma {
    url: String,
    client: ChromaClient,
    /// The same server behind its TLS endpoint, trusting the test CA.
    tls_client: ChromaClient,
    run_no: u64,
}

impl Chroma {
    /// Refuses a bad `UDS3_CHROMA_URL` or `UDS3_CHROMA_TLS_URL` with the
    /// client's message.
    pub fn new(endpoints: &Endpoints) -> Result<Self, String> {
        let url = endpoints.chroma_url.clone();
        let client = ChromaClient::new(&url).map_err(|e| format!("UDS3_CHROMA_URL: {e}"))?;
        let tls_client = ChromaClient::builder(&endpoints.chroma_tls_url)
            .ca_file(&endpoints.tls_ca_file)
            .build()
            .map_err(|e| format!("UDS3_CHROMA_TLS_URL: {e}"))?;
        Ok(Self {
            url,
            client,
            tls_client,
            run_no: 0,
        })
    }
}

fn chunk_metadata(i: u64) -> Metadata {
    metadata([
        ("doc_id", MetadataValue::from(format!("doc-{}", i / 20))),
        ("chunk_index", MetadataValue::from((i % 20) as i64)),
        (
            "court",
            MetadataValue::from(["BGH", "BVerwG", "BAG", "BFH"][(i % 4) as usize]),
        ),
        ("year", MetadataValue::from(1990 + (i % 35) as i64)),
    ])
}

const PROFILE: Profile = Profile {
    name: "chroma",
    claimed: "~80x",
    batch_sizes: &[10, 100, 1000],
    per_item: (60, 150),
    batched: (1000, 5000),
    large: (1000, 5000),
};

impl Backend for Chroma {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String> {
        self.run_no += 1;
        let name = format!("bench-{}-{}", std::process::id(), self.run_no);
        let space = metadata([("hnsw:space", MetadataValue::from("l2"))]);
        let client = if mode.is_tls() {
            &self.tls_client
        } else {
            &self.client
        };
        let collection = client
            .get_or_create_collection(&name, &space)
            .map_err(|e| e.to_string())?;
        let records: Vec<(String, Vec<f32>, Metadata)> = (0..items as u64)
            .map(|i| {
                (
                    format!("chunk-{i:08}"),
                    corpus::embedding(i, DIM),
                    chunk_metadata(i),
                )
            })
            .collect();
        let run = match mode {
            Mode::Raw(_) | Mode::Ceiling => {
                // The library's own requests in add mode, per batch for
                // Raw: the `get` of the batch's ids that tells existing
                // records (conflicts) apart, then the `add` (base64
                // little-endian f32). Ceiling: one `add` of all.
                let base = format!(
                    "{}/api/v2/tenants/default_tenant/databases/default_database/collections/{}",
                    self.url.trim_end_matches('/'),
                    collection.id()
                );
                post_each(
                    records,
                    raw_chunk(mode, items),
                    |chunk| {
                        let mut requests = Vec::with_capacity(2);
                        let ids: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
                        if matches!(mode, Mode::Raw(_)) {
                            let get = serde_json::json!({ "ids": ids, "include": [] });
                            requests.push((format!("{base}/get"), get.to_string().into_bytes()));
                        }
                        let embeddings: Vec<String> = chunk
                            .iter()
                            .map(|(_, v, _)| {
                                let bytes: Vec<u8> =
                                    v.iter().flat_map(|x| x.to_le_bytes()).collect();
                                base64::Engine::encode(
                                    &base64::engine::general_purpose::STANDARD,
                                    &bytes,
                                )
                            })
                            .collect();
                        let add = serde_json::to_vec(&serde_json::json!({
                            "ids": ids,
                            "embeddings": embeddings,
                            "metadatas": chunk.iter().map(|r| &r.2).collect::<Vec<_>>(),
                        }))
                        .map_err(|e| e.to_string())?;
                        requests.push((format!("{base}/add"), add));
                        Ok(requests)
                    },
                    |_| Ok(()),
                )?
            }
            _ => {
                let (settings, _buffer) = mode.settings("bench-chroma")?;
                let (inserter, setup) = timed(|| {
                    ChromaBatchInserter::with_settings(collection.clone(), settings)
                        .map_err(|e| e.to_string())
                })?;
                drive(
                    records,
                    mode,
                    |(id, v, m)| inserter.add(id, v, m).map_err(|f| f.to_string()),
                    || {
                        (
                            inserter.close(CLOSE_TIMEOUT),
                            inserter.stats(),
                            inserter.timings(),
                        )
                    },
                )?
                .after_setup(setup)
            }
        };
        let count = collection.count().map_err(|e| e.to_string())?;
        let _ = client.delete_collection(&name);
        if count != items as u64 {
            return Err(format!("{count} of {items} records in the collection"));
        }
        Ok(run)
    }
}
