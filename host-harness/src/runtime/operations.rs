//! The connector's operations, one public method per export.
//!
//! Each method runs its operation through [`Runtime::run`] and unwraps the
//! answer to the export's own type. The reads fail with a bare
//! [`RuntimeError`]; `sync-organization` fails with a [`CallFailed`],
//! because a call that wrote before it stopped must still be counted.

use std::sync::Arc;

use seatsync_plugin::error::ConnectorError;
use seatsync_plugin::model::{
    Agreement, Company, Connection, ConnectionInfo, Product, SyncReport, SyncRequest,
};

use super::call::{Op, Output};
use super::{Call, CallFailed, Runtime, RuntimeError, SitePolicy, WriteJournal};

impl Runtime {
    /// `test-connection`: checks the site, keys, company id and client id.
    pub async fn test_connection(
        &self,
        site: &SitePolicy,
        conn: &Connection,
    ) -> Result<Call<Result<ConnectionInfo, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::TestConnection, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Info(v) => v,
            _ => unreachable!("test-connection answers with connection info"),
        }))
    }

    /// `list-products`: every catalog item.
    pub async fn list_products(
        &self,
        site: &SitePolicy,
        conn: &Connection,
    ) -> Result<Call<Result<Vec<Product>, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::ListProducts, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Products(v) => v,
            _ => unreachable!("list-products answers with products"),
        }))
    }

    /// `list-companies`: every company that is not deleted.
    pub async fn list_companies(
        &self,
        site: &SitePolicy,
        conn: &Connection,
    ) -> Result<Call<Result<Vec<Company>, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::ListCompanies, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Companies(v) => v,
            _ => unreachable!("list-companies answers with companies"),
        }))
    }

    /// `list-agreements`: every agreement, or one company's.
    pub async fn list_agreements(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        company: Option<u32>,
    ) -> Result<Call<Result<Vec<Agreement>, ConnectorError>>, RuntimeError> {
        let call = self
            .run(site, conn, Op::ListAgreements(company), None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Agreements(v) => v,
            _ => unreachable!("list-agreements answers with agreements"),
        }))
    }

    /// `sync-organization`: makes one agreement's additions match the counts.
    ///
    /// A call that did not complete says what it had sent by then
    /// ([`CallFailed`]).
    pub async fn sync_organization(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        request: &SyncRequest,
    ) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
        self.sync_organization_journaled(site, conn, request, None)
            .await
    }

    /// [`Runtime::sync_organization`], recording every write in `journal`
    /// before it is sent ([`journal`]); each write's exchange carries its
    /// entry's id.
    ///
    /// [`journal`]: super::journal
    pub async fn sync_organization_journaled(
        &self,
        site: &SitePolicy,
        conn: &Connection,
        request: &SyncRequest,
        journal: Option<Arc<dyn WriteJournal>>,
    ) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
        // `run` checks the report against the request (`check_report`).
        let call = self
            .run(site, conn, Op::Sync(request.clone()), journal)
            .await?;
        Ok(call.map(|o| match o {
            Output::Report(v) => v,
            _ => unreachable!("sync-organization answers with a report"),
        }))
    }
}
