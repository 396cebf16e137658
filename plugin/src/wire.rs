//! ConnectWise's JSON, as the connector reads it.
//!
//! Every field is optional and unknown fields are ignored: ConnectWise adds
//! fields without notice, omits nulls or sends them, and a partial response
//! (`fields=`) carries only what was asked for. Missing data is dealt with
//! where it is used, not by failing the whole page.

use serde::{Deserialize, Deserializer};

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

/// Any record read with `fields=id` (the rights check's probes).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdOnly {
    /// The record's id.
    pub id: Option<i64>,
}

/// `GET /system/info`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// ConnectWise's `version`.
    pub version: Option<String>,
    /// ConnectWise's `isCloud`.
    pub is_cloud: Option<bool>,
    /// ConnectWise's `serverTimeZone`.
    pub server_time_zone: Option<String>,
    /// ConnectWise's `cloudRegion`.
    pub cloud_region: Option<String>,
}

/// `GET /login/companyinfo/{companyId}`: PascalCase, `IsCloud` a string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyInfo {
    /// ConnectWise's `Codebase`.
    pub codebase: Option<String>,
}

/// A catalog item.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    /// ConnectWise's `id`.
    pub id: Option<i64>,
    /// ConnectWise's `identifier`.
    pub identifier: Option<String>,
    /// ConnectWise's `description`.
    pub description: Option<String>,
    /// ConnectWise's `inactiveFlag`.
    pub inactive_flag: Option<bool>,
    /// ConnectWise's `price`.
    pub price: Option<f64>,
    /// ConnectWise's `cost`.
    pub cost: Option<f64>,
    /// ConnectWise's `taxableFlag`.
    pub taxable_flag: Option<bool>,
    /// ConnectWise's `productClass`.
    pub product_class: Option<String>,
}

/// A company.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// ConnectWise's `id`.
    pub id: Option<i64>,
    /// ConnectWise's `identifier`.
    pub identifier: Option<String>,
    /// ConnectWise's `name`.
    pub name: Option<String>,
    /// ConnectWise's `status`.
    pub status: Option<Reference>,
    /// ConnectWise's `deletedFlag`.
    pub deleted_flag: Option<bool>,
    /// ConnectWise's `website`: free text; anything but a string (a null,
    /// a number) reads as none rather than failing the page.
    #[serde(default, deserialize_with = "lenient_string")]
    pub website: Option<String>,
}

/// An agreement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    /// ConnectWise's `id`.
    pub id: Option<i64>,
    /// ConnectWise's `name`.
    pub name: Option<String>,
    /// ConnectWise's `company`.
    pub company: Option<Reference>,
    /// ConnectWise's `type`.
    #[serde(rename = "type")]
    pub agreement_type: Option<Reference>,
    /// ConnectWise's `agreementStatus`.
    pub agreement_status: Option<String>,
    /// ConnectWise's `cancelledFlag`.
    pub cancelled_flag: Option<bool>,
    /// ConnectWise's `startDate`.
    pub start_date: Option<String>,
    /// ConnectWise's `endDate`.
    pub end_date: Option<String>,
}

/// An agreement addition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    /// ConnectWise's `id`.
    pub id: Option<i64>,
    /// ConnectWise's `product`.
    pub product: Option<Reference>,
    /// ConnectWise's `quantity`.
    pub quantity: Option<f64>,
    /// ConnectWise's `effectiveDate`.
    pub effective_date: Option<String>,
    /// ConnectWise's `cancelledDate`.
    pub cancelled_date: Option<String>,
    /// ConnectWise's `unitPrice`: what one unit bills.
    pub unit_price: Option<f64>,
}

/// A string, or `None` for a null or any other JSON value.
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// A ConnectWise id as the WIT's `u32`, when it is one.
pub fn id(value: Option<i64>) -> Option<u32> {
    value.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_website_that_is_not_a_string_does_not_fail_the_company() {
        let companies: Vec<Company> = serde_json::from_str(
            r#"[{"id":1,"website":"www.contoso.com"},{"id":2,"website":null},{"id":3,"website":42},{"id":4}]"#,
        )
        .unwrap();
        let websites: Vec<Option<&str>> = companies.iter().map(|c| c.website.as_deref()).collect();
        assert_eq!(websites, [Some("www.contoso.com"), None, None, None]);
    }
}
