//! The connector's operations, one public method per export.
//!
//! Each method runs its operation through [`Runtime::run`] and unwraps the
//! answer to the export's own type, in the latest contract types whatever
//! the component's contract version. The reads fail with a bare
//! [`RuntimeError`]; `sync-organization` fails with a [`CallFailed`],
//! because a call that wrote before it stopped must still be counted.

use std::sync::Arc;

use seatsync_contract::{
    Company, ConnectionInfo, ConnectorError, Contract, NetworkPlan, Product, RecordId, Settings,
    SyncReport, SyncRequest,
};

use super::contract::{Op, Output};
use super::{Call, CallFailed, NetworkPolicy, Runtime, RuntimeError, WriteJournal};

/// The answer of a read that cannot be counted as writing.
type Read<T> = Result<Call<Result<T, ConnectorError>>, RuntimeError>;

impl Runtime {
    /// `plan-network`: the endpoints `settings` lead to and the secrets to
    /// redact. Sends nothing. Build the call's [`NetworkPolicy`] from it
    /// with [`NetworkPolicy::from_plan`].
    pub async fn plan_network(&self, settings: &Settings) -> Read<NetworkPlan> {
        let call = self
            .run(&NetworkPolicy::nowhere(), settings, Op::PlanNetwork, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Plan(v) => v,
            _ => unreachable!("plan-network answers with a plan"),
        }))
    }

    /// `test-connection`: checks the settings, the credentials and the
    /// rights a sync needs.
    pub async fn test_connection(
        &self,
        policy: &NetworkPolicy,
        settings: &Settings,
    ) -> Read<ConnectionInfo> {
        let call = self
            .run(policy, settings, Op::TestConnection, None)
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
        policy: &NetworkPolicy,
        settings: &Settings,
    ) -> Read<Vec<Product>> {
        let call = self
            .run(policy, settings, Op::ListProducts, None)
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
        policy: &NetworkPolicy,
        settings: &Settings,
    ) -> Read<Vec<Company>> {
        let call = self
            .run(policy, settings, Op::ListCompanies, None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Companies(v) => v,
            _ => unreachable!("list-companies answers with companies"),
        }))
    }

    /// `list-contracts`: every contract, or one company's.
    pub async fn list_contracts(
        &self,
        policy: &NetworkPolicy,
        settings: &Settings,
        company: Option<RecordId>,
    ) -> Read<Vec<Contract>> {
        let call = self
            .run(policy, settings, Op::ListContracts(company), None)
            .await
            .map_err(|f| f.error)?;
        Ok(call.map(|o| match o {
            Output::Contracts(v) => v,
            _ => unreachable!("list-contracts answers with contracts"),
        }))
    }

    /// `sync-organization`: makes one contract's billing lines match the
    /// counts.
    ///
    /// A call that did not complete says what it had sent by then
    /// ([`CallFailed`]).
    pub async fn sync_organization(
        &self,
        policy: &NetworkPolicy,
        settings: &Settings,
        request: &SyncRequest,
    ) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
        self.sync_organization_journaled(policy, settings, request, None)
            .await
    }

    /// [`Runtime::sync_organization`], recording every write in `journal`
    /// before it is sent ([`super::journal`]); each write's exchange
    /// carries its entry's id.
    pub async fn sync_organization_journaled(
        &self,
        policy: &NetworkPolicy,
        settings: &Settings,
        request: &SyncRequest,
        journal: Option<Arc<dyn WriteJournal>>,
    ) -> Result<Call<Result<SyncReport, ConnectorError>>, CallFailed> {
        // `run` checks the report against the request (`check_report`).
        let call = self
            .run(policy, settings, Op::Sync(request), journal)
            .await?;
        Ok(call.map(|o| match o {
            Output::Report(v) => v,
            _ => unreachable!("sync-organization answers with a report"),
        }))
    }

    /// `end-line`: ends billing line `line_id` of contract `contract_id` on
    /// `day` (`YYYY-MM-DD`). The connector checks that the line belongs to
    /// the contract and is still active, and writes nothing otherwise
    /// (`not-found`). Call it only once a person confirmed the line is to
    /// end: seatsync never ends one on its own (`crate::resolve`).
    ///
    /// Its write is recorded in `journal` before it is sent, as a sync's
    /// are. A 0.1 component, whose contract has no such operation, fails
    /// with [`RuntimeError::NotInContract`] before anything is sent; a call
    /// that did not complete says what it had sent by then
    /// ([`CallFailed`]).
    pub async fn end_line(
        &self,
        policy: &NetworkPolicy,
        settings: &Settings,
        contract_id: RecordId,
        line_id: RecordId,
        day: &str,
        journal: Option<Arc<dyn WriteJournal>>,
    ) -> Result<Call<Result<(), ConnectorError>>, CallFailed> {
        let op = Op::EndLine {
            contract_id,
            line_id,
            day,
        };
        let call = self.run(policy, settings, op, journal).await?;
        Ok(call.map(|o| match o {
            Output::Ended(v) => v,
            _ => unreachable!("end-line answers with its result"),
        }))
    }
}
