//! Which targets can run a component version, worked out on read from the imports and
//! exports the registry stored at publish (nothing new is stored, so every version,
//! whenever it was published, is judged by today's target descriptions), and the
//! `runs_on` filter of search.

use std::collections::{BTreeMap, BTreeSet};

use wharf_types::Digest;

use super::ServiceError;
use crate::AppState;
use crate::analysis::targets::{self, Target};
use crate::repo::ItemRow;
use crate::views;

/// The target `runs_on` names, or `400 TARGET_UNKNOWN` listing the known ones.
pub fn runs_on(name: &str) -> Result<&'static Target, ServiceError> {
    targets::target(name).map_err(|message| ServiceError::bad_request("TARGET_UNKNOWN", message))
}

/// The names of `items` in one direction, version included.
fn names(items: &[ItemRow], direction: &str) -> Vec<String> {
    items
        .iter()
        .filter(|i| i.direction == direction)
        .map(|i| super::item_view(i).name)
        .collect()
}

impl AppState {
    /// Every target and whether the version (of `kind`, stored as `digest`, with
    /// these `items`) runs there; empty for a WIT package. The bytes are read only
    /// when an import is in the way somewhere, to name the plug that brought it.
    pub(super) async fn targets(
        &self,
        kind: &str,
        digest: &str,
        items: &[ItemRow],
    ) -> Result<Vec<views::TargetFit>, ServiceError> {
        if kind != "component" {
            return Ok(Vec::new());
        }
        let (imports, exports) = (names(items, "import"), names(items, "export"));
        let refused = targets::refused_anywhere(&imports, &exports);
        let mut brought_in_by = BTreeMap::new();
        if !refused.is_empty() {
            let digest: Digest = digest.parse().map_err(ServiceError::internal)?;
            let bytes = self
                .blob_bytes(&digest)
                .await?
                .ok_or_else(|| ServiceError::internal(format!("blob {digest} is missing")))?;
            brought_in_by = crate::cpu(move || targets::brought_in_by_keys(&bytes, refused)).await;
        }
        Ok(targets::fits(&imports, &exports, &brought_in_by))
    }

    /// The packages (`namespace:name`) whose latest version runs on `target`.
    pub(super) async fn running_on(
        &self,
        target: &Target,
    ) -> Result<BTreeSet<String>, ServiceError> {
        let mut by_package: BTreeMap<String, Vec<ItemRow>> = BTreeMap::new();
        for (package, item) in self.db.latest_component_items().await? {
            by_package.entry(package).or_default().push(item);
        }
        Ok(by_package
            .into_iter()
            .filter(|(_, items)| {
                target
                    .refusal(&names(items, "import")[..], &names(items, "export")[..])
                    .is_none()
            })
            .map(|(package, _)| package)
            .collect())
    }
}
