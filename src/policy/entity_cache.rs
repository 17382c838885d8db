//! Cedar entities built once per content.
//!
//! Building a Cedar entity converts every attribute; a project's or repository's facts are the
//! same for every artifact in it, so each is built once and then shared (an `Arc`). The key
//! is the uid and the comparison is of every fact the entity is built from (attributes and
//! parents), so a changed fact — a new trusted builder, another visibility — builds it afresh.
//! Which entities are kept is the caller's choice (`entities.rs`: projects and repositories).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use cedar_policy_core::ast::Entity;

/// At most this many entities are kept; past it the map starts again (bounded memory).
const MAX_ENTRIES: usize = 4096;

/// Built entities by key (`K`, their uid), each with the facts (`F`) it was built from.
#[derive(Debug)]
pub(crate) struct EntityCache<K, F> {
    built: RwLock<HashMap<K, (F, Arc<Entity>), foldhash::fast::RandomState>>,
}

impl<K, F> Default for EntityCache<K, F> {
    fn default() -> Self {
        Self {
            built: RwLock::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, F: PartialEq + Clone> EntityCache<K, F> {
    /// The entity `key` with `facts`: the one built from the same facts, or `build()`'s (kept
    /// when it succeeds).
    pub(crate) fn entity(
        &self,
        key: &K,
        facts: &F,
        build: impl FnOnce() -> Result<Entity, String>,
    ) -> Result<Arc<Entity>, String> {
        {
            // A poisoned lock only means another thread panicked between two map operations.
            let built = self.built.read().unwrap_or_else(|e| e.into_inner());
            if let Some((kept, entity)) = built.get(key)
                && kept == facts
            {
                return Ok(Arc::clone(entity));
            }
        }
        let entity = Arc::new(build()?);
        let mut built = self.built.write().unwrap_or_else(|e| e.into_inner());
        if built.len() >= MAX_ENTRIES {
            built.clear();
        }
        built.insert(key.clone(), (facts.clone(), Arc::clone(&entity)));
        Ok(entity)
    }

    /// How many entities are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.built.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}
