//! `secrets …`: the key that seals the secrets stored in the database
//! ([`crate::store::KeySource`]).

use super::Context;
use super::args::SecretsCommand;
use super::table;
use crate::store;

/// `secrets …`.
pub fn run(ctx: &Context, command: &SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::NewKey { file } => {
            let id = store::new_key_file(file)?;
            println!(
                "Wrote a new secret key ({id}) to {} (mode 0600). Keep it apart from the database's backups.",
                file.display()
            );
        }
        SecretsCommand::Status(json) => {
            let status = ctx.store()?.secret_status()?;
            if json.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
                return Ok(());
            }
            println!("Key: {}", status.key_source);
            match status.key_ids.split_first() {
                None => println!("Key id: none yet (created when the first secret is stored)"),
                Some((sealing, [])) => println!("Key id: {sealing}"),
                Some((sealing, others)) => {
                    println!("Key id: {sealing} (also opening: {})", others.join(", "))
                }
            }
            let mut rows = table::new(&["Sealed with key", "Secrets"]);
            for count in &status.sealed {
                rows.add_row(vec![count.key_id.clone(), count.secrets.to_string()]);
            }
            if status.sealed.is_empty() {
                println!("No secrets stored yet.");
            } else {
                println!("{rows}");
            }
        }
        SecretsCommand::Rotate { new_key_file, json } => {
            let mut store = ctx.store()?;
            let rotation = store.rotate_secret_key(new_key_file.clone())?;
            if json.json {
                println!("{}", serde_json::to_string_pretty(&rotation)?);
                return Ok(());
            }
            println!(
                "Sealed {} secret(s) again under key {}.",
                rotation.resealed, rotation.new_key_id
            );
            match (&rotation.rewritten_key_file, new_key_file) {
                (Some(file), _) => println!(
                    "{} now holds only the new key; the old key ({}) opens nothing any more.",
                    file.display(),
                    rotation.retired_key_ids.join(", ")
                ),
                (None, Some(file)) => println!(
                    "Now give seatsync the new key: --secret-key-file {} (or SEATSYNC_SECRET_KEY_FILE); \
                     the old key ({}) opens nothing any more.",
                    file.display(),
                    rotation.retired_key_ids.join(", ")
                ),
                (None, None) => {}
            }
        }
    }
    Ok(())
}
