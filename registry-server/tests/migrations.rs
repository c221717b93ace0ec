//! The two migration sets (`migrations/sqlite`, `migrations/postgres`) stay in step:
//! the same files, identical wherever the SQL need not differ, and, applied to real
//! databases, the same schema (tables, columns with their nullability, types and
//! defaults, primary keys, unique constraints, indexes, foreign keys) and the same
//! migration history.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{Backend, TestApp};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;

/// The migrations whose SQL differs between the sets, and why. Every other file must
/// be byte-identical in both: a difference not listed here fails the test.
const DIFFERING: &[(&str, &str)] = &[
    (
        "0005_oci_owners.sql",
        "the namespace of a repository: instr/substr and strftime on SQLite, \
         split_part and EXTRACT(EPOCH ...) on PostgreSQL",
    ),
    (
        "0006_token_key_out_of_database.sql",
        "SQLite needs PRAGMA secure_delete to zero the dropped key's pages",
    ),
];

/// Column types as the migrations declare them on SQLite, and what PostgreSQL's
/// `information_schema` reports for the same declaration. A type missing here is a
/// difference until it is mapped.
const TYPES: &[(&str, &str)] = &[("TEXT", "text"), ("BIGINT", "bigint")];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    /// The type, as SQLite declares it (PostgreSQL's mapped through [`TYPES`]).
    ty: String,
    nullable: bool,
    /// The default expression, without PostgreSQL's `::type` cast.
    default: Option<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: BTreeMap<String, Column>,
    primary_key: Vec<String>,
    /// Column lists of UNIQUE constraints.
    unique: BTreeSet<Vec<String>>,
    /// Indexes made by CREATE INDEX: name -> (unique, columns).
    indexes: BTreeMap<String, (bool, Vec<String>)>,
    /// (columns, referenced table, referenced columns).
    foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>)>,
}

#[derive(Debug, Default)]
struct Schema {
    tables: BTreeMap<String, Table>,
    /// `_sqlx_migrations`: (version, description), in order.
    migrations: Vec<(i64, String)>,
}

fn columns(list: &str) -> Vec<String> {
    list.split(',').map(str::to_owned).collect()
}

async fn sqlite_schema(url: &str) -> Schema {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    let mut schema = Schema {
        migrations: sqlx::query_as(HISTORY).fetch_all(&mut conn).await.unwrap(),
        ..Schema::default()
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for name in names {
        let mut table = Table::default();
        let rows: Vec<(String, String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk, dflt_value FROM pragma_table_info(?1)",
        )
        .bind(&name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut primary_key = Vec::new();
        for (column, ty, not_null, pk, default) in rows {
            if pk > 0 {
                primary_key.push((pk, column.clone()));
            }
            // SQLite lets a non-INTEGER primary key column hold NULL unless it says
            // NOT NULL; PostgreSQL makes every primary key column NOT NULL. The
            // queries never write NULL there, so a primary key column counts as NOT
            // NULL on both.
            let nullable = not_null == 0 && pk == 0;
            table.columns.insert(
                column,
                Column {
                    ty,
                    nullable,
                    default,
                },
            );
        }
        primary_key.sort();
        table.primary_key = primary_key.into_iter().map(|(_, c)| c).collect();
        let indexes: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT name, \"unique\", origin FROM pragma_index_list(?1)")
                .bind(&name)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for (index, unique, origin) in indexes {
            let cols: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            match origin.as_str() {
                "pk" => {}
                "u" => {
                    table.unique.insert(cols);
                }
                _ => {
                    table.indexes.insert(index, (unique != 0, cols));
                }
            }
        }
        let keys: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT id, \"table\", group_concat(\"from\", ','), group_concat(\"to\", ',') \
             FROM (SELECT * FROM pragma_foreign_key_list(?1) ORDER BY id, seq) GROUP BY id",
        )
        .bind(&name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for (_, target, from, to) in keys {
            table
                .foreign_keys
                .insert((columns(&from), target, columns(&to)));
        }
        schema.tables.insert(name, table);
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let mut schema = Schema {
        migrations: sqlx::query_as(HISTORY).fetch_all(&mut conn).await.unwrap(),
        ..Schema::default()
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for name in names {
        let mut table = Table::default();
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text, column_default::text \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for (column, ty, nullable, default) in rows {
            let ty = TYPES.iter().find(|(_, pg)| *pg == ty).map_or_else(
                || format!("{ty} (unmapped)"),
                |(sqlite, _)| (*sqlite).into(),
            );
            // `''::text` is `''`: the cast is PostgreSQL spelling the type out.
            let default = default.map(|d| match d.split_once("::") {
                Some((value, _)) => value.to_owned(),
                None => d,
            });
            table.columns.insert(
                column,
                Column {
                    ty,
                    nullable: nullable == "YES",
                    default,
                },
            );
        }
        let indexes: Vec<(String, bool, bool, bool, String)> = sqlx::query_as(
            "SELECT i.relname::text, x.indisunique, x.indisprimary, \
                    EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid \
                            AND c.contype = 'u'), \
                    (SELECT string_agg(a.attname::text, ',' ORDER BY k.ord) \
                     FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum) \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             WHERE x.indrelid = $1::text::regclass",
        )
        .bind(&name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for (index, unique, primary, constraint, cols) in indexes {
            if primary {
                table.primary_key = columns(&cols);
            } else if constraint {
                table.unique.insert(columns(&cols));
            } else {
                table.indexes.insert(index, (unique, columns(&cols)));
            }
        }
        let keys: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT (SELECT string_agg(a.attname::text, ',' ORDER BY k.ord) \
                     FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) \
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum), \
                    (SELECT relname::text FROM pg_class WHERE oid = c.confrelid), \
                    (SELECT string_agg(a.attname::text, ',' ORDER BY k.ord) \
                     FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord) \
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) \
             FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid = $1::text::regclass",
        )
        .bind(&name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for (from, target, to) in keys {
            table
                .foreign_keys
                .insert((columns(&from), target, columns(&to)));
        }
        schema.tables.insert(name, table);
    }
    schema
}

/// The history sqlx keeps: (version, description), in order.
const HISTORY: &str = "SELECT version, description FROM _sqlx_migrations ORDER BY version";

/// Every way `sqlite` and `postgres` differ, one line each; empty when in step.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut found = Vec::new();
    if sqlite.migrations != postgres.migrations {
        found.push(format!(
            "migration history: SQLite {:?}, PostgreSQL {:?}",
            sqlite.migrations, postgres.migrations
        ));
    }
    let names: BTreeSet<&String> = sqlite.tables.keys().chain(postgres.tables.keys()).collect();
    for name in names {
        let (s, p) = match (sqlite.tables.get(name), postgres.tables.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (Some(_), None) => {
                found.push(format!("table {name}: on SQLite only"));
                continue;
            }
            (None, _) => {
                found.push(format!("table {name}: on PostgreSQL only"));
                continue;
            }
        };
        let columns: BTreeSet<&String> = s.columns.keys().chain(p.columns.keys()).collect();
        for column in columns {
            match (s.columns.get(column), p.columns.get(column)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => {
                    found.push(format!("{name}.{column}: SQLite {a:?}, PostgreSQL {b:?}"))
                }
                (Some(_), None) => found.push(format!("{name}.{column}: on SQLite only")),
                (None, _) => found.push(format!("{name}.{column}: on PostgreSQL only")),
            }
        }
        let mut compare =
            |what: &str, sqlite: &dyn std::fmt::Debug, postgres: &dyn std::fmt::Debug| {
                let (sqlite, postgres) = (format!("{sqlite:?}"), format!("{postgres:?}"));
                if sqlite != postgres {
                    found.push(format!(
                        "{name} {what}: SQLite {sqlite}, PostgreSQL {postgres}"
                    ));
                }
            };
        compare("primary key", &s.primary_key, &p.primary_key);
        compare("unique constraints", &s.unique, &p.unique);
        compare("indexes", &s.indexes, &p.indexes);
        compare("foreign keys", &s.foreign_keys, &p.foreign_keys);
    }
    found
}

fn migrations_dir(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(set)
}

/// The file names of a migration set, in order.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn both_sets_have_the_same_files_identical_where_the_sql_need_not_differ() {
    let (sqlite, postgres) = (migrations_dir("sqlite"), migrations_dir("postgres"));
    let names = files(&sqlite);
    assert_eq!(
        names,
        files(&postgres),
        "the two sets number their files alike"
    );
    for name in &names {
        let same = std::fs::read(sqlite.join(name)).unwrap()
            == std::fs::read(postgres.join(name)).unwrap();
        let listed = DIFFERING.iter().any(|(n, _)| n == name);
        assert!(
            same || listed,
            "{name} differs between migrations/sqlite and migrations/postgres: make the SQL \
             the same, or list it in DIFFERING with the reason"
        );
        assert!(
            !(same && listed),
            "{name} is identical in both sets: take it out of DIFFERING"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sets_build_the_same_schema() {
    let sqlite = TestApp::new(Backend::Sqlite).await;
    let postgres = TestApp::new(Backend::Postgres).await;
    let sqlite_schema = sqlite_schema(&sqlite.state.config.database_url()).await;
    let postgres_schema = postgres_schema(&postgres.state.config.database_url()).await;
    // Not a comparison of two empty things.
    assert!(sqlite_schema.tables.len() >= 10, "{sqlite_schema:?}");
    assert_eq!(
        sqlite_schema.migrations.len(),
        files(&migrations_dir("sqlite")).len()
    );
    let found = differences(&sqlite_schema, &postgres_schema);
    assert!(
        found.is_empty(),
        "the schemas differ:\n{}",
        found.join("\n")
    );
}

/// The comparison sees a column one set forgot: a scratch copy of the SQLite set
/// without `versions.manifest_digest`, applied to a fresh file, against the real
/// PostgreSQL schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_missing_from_one_set_is_a_difference() {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("sqlite");
    std::fs::create_dir(&copy).unwrap();
    for name in files(&migrations_dir("sqlite")) {
        let sql = std::fs::read_to_string(migrations_dir("sqlite").join(&name)).unwrap();
        let altered = sql.replace("ALTER TABLE versions ADD COLUMN manifest_digest TEXT;", "");
        std::fs::write(copy.join(&name), altered).unwrap();
    }
    let url = format!(
        "sqlite://{}?mode=rwc",
        scratch.path().join("scratch.db").display()
    );
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(copy.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let postgres = TestApp::new(Backend::Postgres).await;
    let found = differences(
        &sqlite_schema(&url).await,
        &postgres_schema(&postgres.state.config.database_url()).await,
    );
    assert_eq!(
        found,
        ["versions.manifest_digest: on PostgreSQL only"],
        "{found:#?}"
    );
}
