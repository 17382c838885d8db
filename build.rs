//! Rebuild when a migration changes: `sqlx::migrate!` embeds the migration files, and cargo does
//! not otherwise notice a change that touches only `migrations/`.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
