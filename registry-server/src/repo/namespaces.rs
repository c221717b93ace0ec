//! SQL of namespaces and their owners: claiming a namespace, and adding and removing
//! owners (never the last one). Who may do what with them is `service::access`.

use sqlx::Row;

use wharf_types::log::{Action, Entry};

use super::{Db, DbError, conflict_or};

impl Db {
    /// Makes `user` the owner of `namespace` if nobody has claimed it, in one
    /// transaction (two first pushers cannot both win); answers whether `user` owns it
    /// now.
    pub async fn claim_namespace(
        &self,
        namespace: &str,
        user: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let (claimed, owns) = Self::claim_in(&mut tx, namespace, user, now).await?;
        if claimed {
            let entry = Entry::namespace(Action::Claim, namespace, user, user, now);
            self.append_log_in(&mut tx, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(owns)
    }

    /// In an open transaction: makes `user` the owner of `namespace` if nobody has
    /// claimed it. Answers whether this claimed it, and whether `user` owns it now
    /// (facts: whether that lets them act there is the access rule's to say,
    /// `service::access::may_act`).
    pub(super) async fn claim_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        namespace: &str,
        user: &str,
        now: i64,
    ) -> Result<(bool, bool), DbError> {
        let claimed = sqlx::query(
            "INSERT INTO namespaces (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(namespace)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected()
            == 1;
        if claimed {
            sqlx::query(
                "INSERT INTO namespace_owners (namespace, owner, added_at) VALUES ($1, $2, $3)",
            )
            .bind(namespace)
            .bind(user)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            return Ok((true, true));
        }
        Ok((false, owns(&mut **tx, namespace, user).await?))
    }

    /// Whether someone claimed `namespace`.
    pub async fn namespace_exists(&self, namespace: &str) -> Result<bool, DbError> {
        Ok(sqlx::query("SELECT 1 FROM namespaces WHERE name = $1")
            .bind(namespace)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// The owners of `namespace`, in the order they were added.
    pub async fn owners(&self, namespace: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT owner FROM namespace_owners WHERE namespace = $1 ORDER BY added_at, owner",
        )
        .bind(namespace)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("owner"))
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }

    /// Whether `owner` owns `namespace`.
    pub async fn is_owner(&self, namespace: &str, owner: &str) -> Result<bool, DbError> {
        owns(&self.pool, namespace, owner).await
    }

    /// Adds an owner, and logs it as done by `actor`; `Conflict` if they already are one.
    pub async fn add_owner(
        &self,
        namespace: &str,
        owner: &str,
        actor: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO namespace_owners (namespace, owner, added_at) VALUES ($1, $2, $3)",
        )
        .bind(namespace)
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(conflict_or)?;
        let entry = Entry::namespace(Action::OwnerAdd, namespace, owner, actor, now);
        self.append_log_in(&mut tx, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes an owner unless they are the last one; Ok(false) when they were not an owner.
    /// The removal is logged as done by `actor`.
    pub async fn remove_owner(
        &self,
        namespace: &str,
        owner: &str,
        actor: &str,
        now: i64,
    ) -> Result<Result<bool, ()>, DbError> {
        let mut tx = self.pool.begin().await?;
        let count: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM namespace_owners WHERE namespace = $1")
                .bind(namespace)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        let removed =
            sqlx::query("DELETE FROM namespace_owners WHERE namespace = $1 AND owner = $2")
                .bind(namespace)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if removed == 1 && count <= 1 {
            tx.rollback().await?;
            return Ok(Err(()));
        }
        if removed == 1 {
            let entry = Entry::namespace(Action::OwnerRemove, namespace, owner, actor, now);
            self.append_log_in(&mut tx, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(Ok(removed == 1))
    }
}

/// Whether `owner` owns `namespace`, asked of `db` (the pool, or an open transaction).
async fn owns<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    namespace: &str,
    owner: &str,
) -> Result<bool, DbError> {
    Ok(
        sqlx::query("SELECT 1 FROM namespace_owners WHERE namespace = $1 AND owner = $2")
            .bind(namespace)
            .bind(owner)
            .fetch_optional(db)
            .await?
            .is_some(),
    )
}
