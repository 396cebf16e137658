//! Products: `GET /procurement/catalog`.

use crate::client::Client;
use crate::error::ConnectorError;
use crate::http::{Level, Transport};
use crate::model::Product;
use crate::query::ListQuery;
use crate::wire;

const FIELDS: &[&str] = &[
    "id",
    "identifier",
    "description",
    "inactiveFlag",
    "price",
    "cost",
    "taxableFlag",
    "productClass",
];

/// Every catalog item, ordered by id.
pub fn list_products<T: Transport>(
    client: &mut Client<'_, T>,
) -> Result<Vec<Product>, ConnectorError> {
    let items: Vec<wire::CatalogItem> = client.get_all(
        "/procurement/catalog",
        &ListQuery::new(FIELDS),
        "the product catalog",
    )?;
    let mut products = Vec::with_capacity(items.len());
    for item in items {
        let Some(id) = wire::id(item.id) else {
            client.log(Level::Warn, "skipped a catalog item without a valid id");
            continue;
        };
        products.push(Product {
            id,
            identifier: item.identifier.unwrap_or_default(),
            description: item.description.unwrap_or_default(),
            inactive: item.inactive_flag.unwrap_or(false),
            price: item.price,
            cost: item.cost,
            taxable: item.taxable_flag.unwrap_or(false),
            product_class: item.product_class,
        });
    }
    Ok(products)
}
