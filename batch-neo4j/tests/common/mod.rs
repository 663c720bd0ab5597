//! Shared helpers of the integration tests: server config, unique names, counts.
#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod tls;

use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig, Neo4jSink, Properties, PropertyValue};
use test_support::test_servers::{self, Service};

/// The test server from `UDS3_NEO4J_URI`, `UDS3_NEO4J_USER`,
/// `UDS3_NEO4J_PASSWORD` (batch-core's shared defaults); fails the test with
/// the "run `cargo xtask services up`" message when it is not reachable.
pub fn config() -> Neo4jConfig {
    let uri = test_servers::require(Service::Neo4j);
    let endpoints = test_servers::Endpoints::from_env();
    Neo4jConfig::new(&uri, endpoints.neo4j_user, endpoints.neo4j_password)
        .expect("valid test URI")
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
}

/// The same server through its TLS front end (`bolt+s`), trusting the test
/// CA alone.
#[cfg(feature = "tls")]
pub fn tls_config() -> Neo4jConfig {
    test_servers::require(Service::Neo4j);
    let tls = test_servers::require_tls(Service::Neo4j);
    let endpoints = test_servers::Endpoints::from_env();
    Neo4jConfig::new(&tls.url, endpoints.neo4j_user, endpoints.neo4j_password)
        .expect("valid test TLS URI")
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
        .tls(
            batch_core::tls::TlsSettings::new()
                .public_roots(false)
                .ca_file(tls.ca_file),
        )
}

pub use test_support::test_servers::unique_name as unique;

/// A connection for setup and checks.
pub fn admin() -> Neo4jSink {
    Neo4jSink::connect(config())
        .expect("the Neo4j test server must be running: run `cargo xtask services up neo4j`")
}

/// The first column of the first row of `cypher`, as an integer.
pub fn count(sink: &mut Neo4jSink, cypher: &str) -> i64 {
    let rows = sink.run_cypher(cypher, &Properties::new()).expect(cypher);
    match rows.first().and_then(|r| r.first()) {
        Some(Some(PropertyValue::Int(n))) => *n,
        other => panic!("{cypher} returned {other:?}"),
    }
}

/// Relationships of `rel_type` between the two labels.
pub fn count_rels(sink: &mut Neo4jSink, from: &str, rel_type: &str, to: &str) -> i64 {
    count(
        sink,
        &format!("MATCH (:{from})-[r:{rel_type}]->(:{to}) RETURN count(r)"),
    )
}

/// One `(:doc {id: 'doc_0'})` node and `total` `(:chunk {id: 'chunk_N'})`
/// nodes, for relationship tests between them.
pub fn seed_doc_and_chunks(admin: &mut Neo4jSink, doc: &str, chunk: &str, total: usize) {
    admin
        .run_cypher(
            &format!(
                "UNWIND range(0, {}) AS c CREATE (:{chunk} {{id: 'chunk_' + toString(c)}})",
                total - 1
            ),
            &Properties::new(),
        )
        .expect("seed chunks");
    admin
        .run_cypher(
            &format!("CREATE (:{doc} {{id: 'doc_0'}})"),
            &Properties::new(),
        )
        .expect("seed the document");
}

/// A new label whose nodes must have unique `email`s, with one node
/// holding `x@example.org`: upserting another node with that email is a
/// statement the server refuses.
pub fn label_with_a_taken_email(admin: &mut Neo4jSink) -> String {
    let label = unique("Uniq");
    admin
        .run_cypher(
            &format!("CREATE CONSTRAINT IF NOT EXISTS FOR (n:{label}) REQUIRE n.email IS UNIQUE"),
            &Properties::new(),
        )
        .expect("constraint");
    admin
        .run_cypher(
            &format!("CREATE (:{label} {{id: 'taken', email: 'x@example.org'}})"),
            &Properties::new(),
        )
        .expect("the node holding the email");
    label
}

/// Adds users `u0..u{count}` of `label` to `creator`, each with an email of
/// its own except `u3`, which gets the taken one (see
/// [`label_with_a_taken_email`]).
pub fn add_users_u3_with_the_taken_email(creator: &Neo4jBatchCreator, label: &str, count: usize) {
    for i in 0..count {
        let email = if i == 3 {
            "x@example.org".to_owned()
        } else {
            format!("u{i}@example.org")
        };
        creator
            .upsert_node(label, format!("u{i}"), [("email", email.into())])
            .expect("add");
    }
}

/// Runs a user administration command as the test server's admin user, with
/// `$name` and `$password` bound (Neo4j routes it to the system database).
fn admin_command(cypher: &str, name: &str, password: &str) -> Vec<Vec<Option<PropertyValue>>> {
    let params = Properties::from_iter([
        ("name".to_owned(), PropertyValue::from(name)),
        ("password".to_owned(), PropertyValue::from(password)),
    ]);
    admin().run_cypher(cypher, &params).expect(cypher)
}

/// A user of the test's own (Neo4j locks a user out after failed logins,
/// and its connections can be told apart).
pub fn create_user(name: &str, password: &str) {
    admin_command(
        "CREATE USER $name SET PASSWORD $password CHANGE NOT REQUIRED",
        name,
        password,
    );
}

pub fn set_password(name: &str, password: &str) {
    admin_command(
        "ALTER USER $name SET PASSWORD $password CHANGE NOT REQUIRED",
        name,
        password,
    );
}

pub fn drop_user(name: &str) {
    admin_command("DROP USER $name IF EXISTS", name, "");
}

/// Closes every connection of `user` on the server, as a restart or a
/// network cut would; returns how many there were.
pub fn kill_connections_of(user: &str) -> i64 {
    let rows = admin_command(
        "CALL dbms.listConnections() YIELD connectionId, username \
         WHERE username = $name \
         CALL dbms.killConnection(connectionId) YIELD message \
         RETURN count(*)",
        user,
        "",
    );
    match rows.first().and_then(|r| r.first()) {
        Some(Some(PropertyValue::Int(n))) => *n,
        other => panic!("killing the connections of {user}: {other:?}"),
    }
}

/// The test server's config with other credentials.
pub fn config_as(user: &str, password: &str) -> Neo4jConfig {
    config_at(config().addr(), user, password)
}

/// The test server's database at `addr` (a relay in front of it), as `user`.
pub fn config_at(addr: &str, user: &str, password: &str) -> Neo4jConfig {
    Neo4jConfig::new(&format!("bolt://{addr}"), user, password)
        .expect("valid URI")
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
}

/// Neo4j for the conformance kit (`test_support::kit`): a fresh label,
/// nodes `(:Label {id: "{prefix}{i}"})` upserted, the label's node count.
pub struct Neo4j;

impl test_support::kit::Backend for Neo4j {
    type Sink = Neo4jSink;
    type Inserter = Neo4jBatchCreator;
    /// The label the items get.
    type Target = String;
    const SERVICE: Service = Service::Neo4j;

    fn fresh(prefix: &str) -> String {
        unique(&prefix.replace('-', "_"))
    }

    fn inserter(_: &String, settings: batch_core::BatcherSettings) -> Self::Inserter {
        Neo4jBatchCreator::with_settings(config(), settings).expect("creator")
    }

    fn inserter_with_timeout(
        _: &String,
        settings: batch_core::BatcherSettings,
        timeout: std::time::Duration,
    ) -> Self::Inserter {
        Neo4jBatchCreator::with_settings(config().timeout(timeout), settings).expect("creator")
    }

    fn batcher(inserter: &Self::Inserter) -> &batch_core::Batcher<Self::Sink> {
        inserter.batcher()
    }

    fn item(label: &String, prefix: &str, i: usize) -> batch_neo4j::GraphItem {
        let mut properties = Properties::new();
        properties.insert("n".to_owned(), PropertyValue::Int(i as i64));
        batch_neo4j::GraphItem::Node(Box::new(batch_neo4j::NodeItem {
            label: label.clone(),
            id: format!("{prefix}{i}"),
            properties,
        }))
    }

    /// A list of mixed types as a property (even `i`) or an empty id
    /// (odd).
    fn invalid_item(label: &String, prefix: &str, i: usize) -> batch_neo4j::GraphItem {
        let mut item = Self::item(label, prefix, i);
        if let batch_neo4j::GraphItem::Node(node) = &mut item {
            if i.is_multiple_of(2) {
                let mixed = PropertyValue::List(vec![1.into(), "a".into()]);
                node.properties.insert("n".to_owned(), mixed);
            } else {
                node.id.clear();
            }
        }
        item
    }

    fn count(label: &String) -> u64 {
        count(&mut admin(), &format!("MATCH (n:{label}) RETURN count(n)")) as u64
    }
}

impl test_support::kit::reading::Readable for Neo4j {
    type Source = batch_neo4j::NodesByLabel;

    fn source(label: &String) -> batch_neo4j::NodesByLabel {
        batch_neo4j::NodesByLabel::new(config(), label).expect("label")
    }

    fn assert_read_back(properties: &Properties, i: usize) {
        assert_eq!(properties.get("n"), Some(&PropertyValue::Int(i as i64)));
        assert_eq!(
            properties.len(),
            1,
            "id is the key, not a property: {properties:?}"
        );
    }
}

/// Neo4j in the kit's crash test: even items are node upserts of the
/// target label, odd ones relationships `(:{label}Doc {id: 'doc'})-[:HAS]->
/// (:{label}Chunk {id: 'crash-N'})`, so that the replay of both kinds is
/// checked. The ends of the relationships are seeded before the run.
impl test_support::kit::durable::Durable for Neo4j {
    fn name(label: &String) -> String {
        label.clone()
    }

    fn named(name: &str) -> String {
        name.to_owned()
    }

    fn crash_item(label: &String, n: u64) -> batch_neo4j::GraphItem {
        use test_support::kit::{Backend, durable::PREFIX};
        if n.is_multiple_of(2) {
            return Self::item(label, PREFIX, n as usize);
        }
        batch_neo4j::GraphItem::Relationship(Box::new(batch_neo4j::RelationshipItem {
            from_label: format!("{label}Doc"),
            from_id: "doc".to_owned(),
            to_label: format!("{label}Chunk"),
            to_id: format!("{PREFIX}{n}"),
            rel_type: "HAS".to_owned(),
            properties: Properties::from_iter([("n".to_owned(), PropertyValue::Int(n as i64))]),
        }))
    }

    /// The labels' indexes, the doc node and a chunk node for every id.
    fn seed(label: &String) {
        use test_support::kit::durable::{ITEMS, PREFIX};
        let mut admin = admin();
        let (doc, chunk) = (format!("{label}Doc"), format!("{label}Chunk"));
        admin
            .ensure_indexes(&[label.as_str(), &doc, &chunk])
            .expect("indexes");
        for cypher in [
            format!("CREATE (:{doc} {{id: 'doc'}})"),
            format!(
                "UNWIND range(0, {}) AS n CREATE (:{chunk} {{id: '{PREFIX}' + toString(n)}})",
                ITEMS - 1
            ),
        ] {
            admin
                .run_cypher(&cypher, &Properties::new())
                .expect(&cypher);
        }
    }

    /// The ids of the label's nodes and of the relationships' chunks,
    /// and how many elements hold them.
    fn stored(label: &String) -> batch_core::testing::crash::Stored {
        let mut admin = admin();
        let mut all = crash_ids(&mut admin, &format!("MATCH (n:{label}) RETURN n.id"));
        all.extend(crash_ids(
            &mut admin,
            &format!("MATCH (:{label}Doc)-[:HAS]->(c:{label}Chunk) RETURN c.id"),
        ));
        batch_core::testing::crash::Stored {
            ids: all.iter().copied().collect(),
            records: all.len(),
        }
    }
}

/// The crash ids in the first column of `cypher`'s rows.
fn crash_ids(admin: &mut Neo4jSink, cypher: &str) -> Vec<u64> {
    admin
        .run_cypher(cypher, &Properties::new())
        .expect(cypher)
        .iter()
        .map(|row| match row.first() {
            Some(Some(PropertyValue::String(id))) => test_support::kit::durable::crash_number(id),
            other => panic!("{cypher}: {other:?}"),
        })
        .collect()
}
