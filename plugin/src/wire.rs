//! ConnectWise's JSON, as the connector reads it.
//!
//! Every field is optional and unknown fields are ignored: ConnectWise adds
//! fields without notice, omits nulls or sends them, and a partial response
//! (`fields=`) carries only what was asked for. Missing data is dealt with
//! where it is used, not by failing the whole page.

use serde::Deserialize;

/// A reference to another record, e.g. `{"id": 5, "name": "Active"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// The referenced record's id.
    pub id: Option<i64>,
    /// Its identifier, for products and companies.
    pub identifier: Option<String>,
    /// Its name.
    pub name: Option<String>,
}

/// `GET /system/info`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub version: Option<String>,
    pub is_cloud: Option<bool>,
    pub server_time_zone: Option<String>,
    pub cloud_region: Option<String>,
}

/// `GET /login/companyinfo/{companyId}`: PascalCase, `IsCloud` a string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyInfo {
    pub codebase: Option<String>,
}

/// A catalog item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub id: Option<i64>,
    pub identifier: Option<String>,
    pub description: Option<String>,
    pub inactive_flag: Option<bool>,
    pub price: Option<f64>,
    pub cost: Option<f64>,
    pub taxable_flag: Option<bool>,
    pub product_class: Option<String>,
}

/// A company.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: Option<i64>,
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub status: Option<Reference>,
    pub deleted_flag: Option<bool>,
}

/// An agreement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub company: Option<Reference>,
    #[serde(rename = "type")]
    pub agreement_type: Option<Reference>,
    pub agreement_status: Option<String>,
    pub cancelled_flag: Option<bool>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

/// An agreement addition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    pub id: Option<i64>,
    pub product: Option<Reference>,
    pub quantity: Option<f64>,
    pub effective_date: Option<String>,
    pub cancelled_date: Option<String>,
}

/// A ConnectWise id as the WIT's `u32`, when it is one.
pub fn id(value: Option<i64>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0)
}
