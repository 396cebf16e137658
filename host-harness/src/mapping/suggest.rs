//! `seatsync map suggest`: for each unmapped organization, the PSA company
//! (and contract) it most likely is, with a score, a reason a person can
//! read, and the alternatives. Pure: the caller reads the companies and
//! contracts once and passes them in.
//!
//! Names are compared after the normalization real data needs: case,
//! accents (`Müller` and `Mueller` agree), punctuation, `&` and `and`, legal
//! forms in several languages (Inc, LLC, Ltd, GmbH, S.A., Pty Ltd, …),
//! noise such as `(trial)`, and word order. The company's short identifier
//! (`ContosoLtd`) and, when the usage file gives one, the organization's
//! domain count too. A suggestion is `confident` only when its score is high
//! and clearly ahead of the runner-up: "Cedar Accounting LLC" and "Cedar
//! Accounting Group" are different customers.

use std::collections::{HashMap, HashSet};

use seatsync_contract::{Company, Contract, RecordId};

/// Legal forms, as normalized tokens (`S.A.` becomes `sa`; `Pty Ltd` is
/// two). Removed wherever they stand.
const LEGAL_FORMS: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "pty",
    "plc",
    "oy",
    "ab",
    "as",
    "aps",
    "kft",
    "sro",
];

/// Words in brackets that say something about the account, not the name.
const NOISE: &[&str] = &[
    "trial",
    "test",
    "demo",
    "old",
    "new",
    "inactive",
    "eval",
    "evaluation",
    "poc",
    "pilot",
];

/// An organization to suggest a company for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgToMatch {
    /// Its id.
    pub org_id: String,
    /// Its name in the usage file.
    pub name: String,
    /// Its e-mail domain, when the usage file gives one.
    pub domain: Option<String>,
}

/// A company that could be meant, and how likely.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// The company.
    pub company_id: RecordId,
    /// Its name.
    pub company_name: String,
    /// The score, in [0, 1].
    pub score: f64,
}

/// What `map suggest` proposes for one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The organization.
    pub org_id: String,
    /// Its name.
    pub org_name: String,
    /// The best company, if any scored at all.
    pub best: Option<Alternative>,
    /// The contract chosen among the company's active ones, if one could be.
    pub agreement: Option<(RecordId, String)>,
    /// Why that contract, or why none.
    pub agreement_reason: String,
    /// Whether the best company is clearly the one: high, and well ahead of
    /// the runner-up.
    pub confident: bool,
    /// Why, in words a person can check.
    pub reason: String,
    /// The next best companies (at most [`ALTERNATIVES`]).
    pub alternatives: Vec<Alternative>,
}

/// Alternatives listed per suggestion.
pub const ALTERNATIVES: usize = 3;

/// The lowest score a confident suggestion has.
pub const CONFIDENT_SCORE: f64 = 0.85;

/// How far ahead of the runner-up a confident suggestion is.
pub const CONFIDENT_MARGIN: f64 = 0.08;

/// A name reduced to what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The words left, in order.
    pub tokens: Vec<String>,
    /// Whether a legal form was removed.
    pub legal_form: bool,
    /// Whether bracketed noise was removed.
    pub noise: bool,
}

impl Normalized {
    /// The words run together: `northwindtraders`.
    pub fn compact(&self) -> String {
        self.tokens.concat()
    }

    fn sorted(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self.tokens.iter().map(String::as_str).collect();
        t.sort_unstable();
        t
    }
}

/// Folds one character to ASCII: German umlauts and ß spelled out (so
/// `Müller` meets `Mueller`), other accents dropped.
fn fold(c: char, out: &mut String) {
    let s = match c {
        'ä' | 'Ä' => "ae",
        'ö' | 'Ö' => "oe",
        'ü' | 'Ü' => "ue",
        'ß' => "ss",
        'æ' | 'Æ' => "ae",
        'ø' | 'Ø' => "o",
        'å' | 'Å' => "a",
        'œ' | 'Œ' => "oe",
        'à' | 'á' | 'â' | 'ã' | 'À' | 'Á' | 'Â' | 'Ã' => "a",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Õ' => "o",
        'ù' | 'ú' | 'û' | 'Ù' | 'Ú' | 'Û' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        _ => {
            out.extend(c.to_lowercase());
            return;
        }
    };
    out.push_str(s);
}

/// Normalizes a company or organization name.
pub fn normalize(name: &str) -> Normalized {
    // Bracketed noise first: "(trial)", "[old]".
    let mut text = String::with_capacity(name.len());
    let mut noise = false;
    let mut rest = name;
    while let Some(open) = rest.find(['(', '[']) {
        let close = rest[open..].find([')', ']']).map(|c| open + c);
        let Some(close) = close else { break };
        let inside = rest[open + 1..close].trim().to_lowercase();
        text.push_str(&rest[..open]);
        if NOISE.iter().any(|n| inside == *n) {
            noise = true;
        } else {
            text.push(' ');
            text.push_str(&rest[open + 1..close]);
            text.push(' ');
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    // Fold, then keep letters and digits; `&` is `and`; dots inside an
    // abbreviation join it (`S.A.` is `sa`).
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' | '+' => folded.push_str(" and "),
            '.' | '\'' | '’' => {}
            c if c.is_alphanumeric() => fold(c, &mut folded),
            _ => folded.push(' '),
        }
    }
    let words: Vec<&str> = folded.split_whitespace().collect();
    let mut legal_form = false;
    let mut tokens: Vec<String> = words
        .iter()
        .filter(|w| {
            let legal = LEGAL_FORMS.contains(w);
            legal_form |= legal;
            !legal
        })
        .map(|w| w.to_string())
        .collect();
    // A trailing "and" left by "Smith & Co" is no word of the name; a name
    // that was only a legal form keeps it.
    while tokens.last().is_some_and(|t| t == "and") && tokens.len() > 1 {
        tokens.pop();
    }
    if tokens.is_empty() {
        tokens = words.iter().map(|w| w.to_string()).collect();
        legal_form = false;
    }
    Normalized {
        tokens,
        legal_form,
        noise,
    }
}

/// A company identifier as a compact name: `ContosoLtd` is `contoso`.
fn identifier_compact(identifier: &str) -> String {
    let mut compact: String = identifier
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    // One trailing legal form, longest first ("limited" before "ltd").
    let mut forms: Vec<&str> = LEGAL_FORMS.to_vec();
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    for form in forms {
        if compact.len() > form.len() + 2 && compact.ends_with(form) {
            compact.truncate(compact.len() - form.len());
            break;
        }
    }
    compact
}

/// A domain as compared: lower case, without scheme, `www.`, path or
/// an e-mail's local part.
fn domain_key(domain: &str) -> String {
    let d = domain.trim().to_lowercase();
    let d = d.rsplit('@').next().unwrap_or(&d);
    let d = d
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.");
    d.split(['/', '?', '#']).next().unwrap_or(d).to_string()
}

/// How well `org` matches `company`: a score in [0, 1] and why.
fn score(
    org: &Normalized,
    org_domain: Option<&str>,
    company: &Company,
    name: &Normalized,
) -> (f64, String) {
    let mut why: Vec<String> = Vec::new();
    let mut score = if org.tokens == name.tokens {
        why.push(describe_same(org, name, "same name"));
        1.0
    } else if org.sorted() == name.sorted() {
        why.push(describe_same(org, name, "same words in another order"));
        0.97
    } else if org.compact() == name.compact() {
        why.push("same name written with other spacing".into());
        0.96
    } else if nearly_same_words(&org.tokens, &name.tokens) {
        why.push("same words but for a small spelling difference".into());
        0.9
    } else {
        let (a, b) = (org.compact(), name.compact());
        let jw = strsim::jaro_winkler(&a, &b);
        let shared = org
            .tokens
            .iter()
            .filter(|t| name.tokens.contains(t))
            .count();
        let dice = 2.0 * shared as f64 / (org.tokens.len() + name.tokens.len()) as f64;
        why.push(format!(
            "similar name ({shared} of {} words shared)",
            org.tokens.len().max(name.tokens.len())
        ));
        0.85 * (0.5 * jw + 0.5 * dice)
    };
    let identifier = identifier_compact(&company.identifier);
    if !identifier.is_empty() && identifier == org.compact() {
        score = if score >= 0.96 {
            score
        } else {
            score.max(0.93)
        };
        why.push("identifier matches".into());
    }
    if let (Some(org_domain), Some(company_domain)) = (org_domain, company.domain.as_deref()) {
        if domain_key(org_domain) == domain_key(company_domain) {
            score = score.max(0.95);
            why.push("same domain".into());
        } else {
            score -= 0.05;
            why.push("another domain".into());
        }
    }
    (score.clamp(0.0, 1.0), why.join("; "))
}

/// Whether `a` and `b` have the same words, each perhaps misspelt a little
/// (Jaro-Winkler 0.92 or more; words of four letters or fewer exactly), in
/// any order.
fn nearly_same_words(a: &[String], b: &[String]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // `Müller` folds to `mueller`, but is also typed `Muller`.
    let plain = |w: &str| w.replace("ue", "u").replace("oe", "o").replace("ae", "a");
    let mut unused: Vec<&String> = b.iter().collect();
    a.iter().all(|word| {
        let found = unused.iter().position(|other| {
            if plain(word) == plain(other) {
                true
            } else if word.len() <= 4 || other.len() <= 4 {
                word == *other
            } else {
                strsim::jaro_winkler(word, other) >= 0.92
            }
        });
        found.map(|i| unused.swap_remove(i)).is_some()
    })
}

/// "same name after removing the legal form and noise".
fn describe_same(org: &Normalized, company: &Normalized, what: &str) -> String {
    let mut removed = Vec::new();
    if org.legal_form != company.legal_form || org.legal_form {
        removed.push("the legal form");
    }
    if org.noise || company.noise {
        removed.push("noise like (trial)");
    }
    if removed.is_empty() {
        format!("{what} (ignoring case, accents and punctuation)")
    } else {
        format!("{what} after removing {}", removed.join(" and "))
    }
}

/// Suggestions for `orgs` among `companies`; contracts are chosen among
/// `contracts` (any company's; cancelled ones never): the company's only
/// active one, else the only one of `agreement_type`, else none.
pub fn suggest(
    orgs: &[OrgToMatch],
    companies: &[Company],
    contracts: &[Contract],
    holding: &HashSet<RecordId>,
    agreement_type: Option<&str>,
    contract_noun: &str,
) -> Vec<Suggestion> {
    let names: Vec<Normalized> = companies.iter().map(|c| normalize(&c.name)).collect();
    // Companies by word, identifier and domain: an organization is scored
    // only against companies that share something with it.
    let mut by_token: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_identifier: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_domain: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (company, name)) in companies.iter().zip(&names).enumerate() {
        for t in name.tokens.iter().collect::<HashSet<_>>() {
            by_token.entry(t.as_str()).or_default().push(i);
        }
        by_identifier
            .entry(identifier_compact(&company.identifier))
            .or_default()
            .push(i);
        if let Some(d) = &company.domain {
            by_domain.entry(domain_key(d)).or_default().push(i);
        }
    }
    let mut active: HashMap<RecordId, Vec<&Contract>> = HashMap::new();
    for c in contracts.iter().filter(|c| !c.cancelled) {
        active.entry(c.company_id).or_default().push(c);
    }
    orgs.iter()
        .map(|org| {
            let normalized = normalize(&org.name);
            let mut candidates: HashSet<usize> = HashSet::new();
            for t in &normalized.tokens {
                // Words most companies share ("and", "services") narrow nothing.
                if let Some(list) = by_token.get(t.as_str()).filter(|l| l.len() <= 200) {
                    candidates.extend(list);
                }
            }
            if let Some(list) = by_identifier.get(&normalized.compact()) {
                candidates.extend(list);
            }
            if let Some(list) = org
                .domain
                .as_deref()
                .and_then(|d| by_domain.get(&domain_key(d)))
            {
                candidates.extend(list);
            }
            let mut scored: Vec<(f64, String, usize)> = candidates
                .into_iter()
                .map(|i| {
                    let (s, why) =
                        score(&normalized, org.domain.as_deref(), &companies[i], &names[i]);
                    (s, why, i)
                })
                .collect();
            scored.sort_by(|a, b| {
                b.0.total_cmp(&a.0)
                    .then_with(|| companies[a.2].id.cmp(&companies[b.2].id))
            });
            let alternative = |(s, _, i): &(f64, String, usize)| Alternative {
                company_id: companies[*i].id,
                company_name: companies[*i].name.clone(),
                score: round(*s),
            };
            let best = scored.first();
            let runner_up = scored.get(1).map_or(0.0, |r| r.0);
            let confident =
                best.is_some_and(|b| b.0 >= CONFIDENT_SCORE && b.0 - runner_up >= CONFIDENT_MARGIN);
            let reason = match best {
                None => "no company shares a word, identifier or domain with it".to_string(),
                Some((s, why, _)) if confident => why.clone(),
                Some((s, why, _)) if *s < CONFIDENT_SCORE => {
                    format!("{why}; not close enough to be sure")
                }
                Some((_, why, _)) => format!(
                    "{why}; but {} scores nearly as well",
                    scored
                        .get(1)
                        .map_or(String::new(), |r| companies[r.2].name.clone())
                ),
            };
            let (agreement, agreement_reason) = match best {
                None => (None, String::new()),
                Some((_, _, i)) => choose_contract(
                    active.get(&companies[*i].id).map_or(&[][..], Vec::as_slice),
                    holding,
                    agreement_type,
                    contract_noun,
                ),
            };
            Suggestion {
                org_id: org.org_id.clone(),
                org_name: org.name.clone(),
                best: best.map(alternative),
                agreement,
                agreement_reason,
                confident,
                reason,
                alternatives: scored
                    .iter()
                    .skip(1)
                    .take(ALTERNATIVES)
                    .map(alternative)
                    .collect(),
            }
        })
        .collect()
}

fn round(score: f64) -> f64 {
    (score * 1000.0).round() / 1000.0
}

/// The contract among a company's active ones: the only one; else the only
/// one of `agreement_type`; else the only one already holding lines of
/// mapped products (`holding`, which `map suggest` reads only for the
/// companies the first two rules leave undecided); otherwise none, and why.
fn choose_contract(
    active: &[&Contract],
    holding: &HashSet<RecordId>,
    agreement_type: Option<&str>,
    noun: &str,
) -> (Option<(RecordId, String)>, String) {
    let several = match active {
        [] => return (None, format!("the company has no active {noun}")),
        [only] => {
            return (
                Some((only.id, only.name.clone())),
                format!("its only active {noun}"),
            );
        }
        several => several,
    };
    let company = several[0].company_id;
    let mut undecided = format!(
        "{} active {noun}s: pass --agreement-type, or choose one with `seatsync agreements --company {company}`",
        several.len()
    );
    if let Some(wanted) = agreement_type {
        let of_type: Vec<&&Contract> = several
            .iter()
            .filter(|c| {
                c.contract_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(wanted))
            })
            .collect();
        if let [one] = of_type.as_slice() {
            return (
                Some((one.id, one.name.clone())),
                format!("its only active {noun} of type {wanted}"),
            );
        }
        undecided = format!(
            "{} active {noun}s, {} of type {wanted}: choose one with `seatsync agreements --company {company}`",
            several.len(),
            of_type.len()
        );
    }
    let holders: Vec<&&Contract> = several.iter().filter(|c| holding.contains(&c.id)).collect();
    if let [one] = holders.as_slice() {
        return (
            Some((one.id, one.name.clone())),
            format!("the {noun} already holding lines of mapped products"),
        );
    }
    (None, undecided)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: RecordId, identifier: &str, name: &str) -> Company {
        Company {
            id,
            identifier: identifier.into(),
            name: name.into(),
            status: Some("Active".into()),
            domain: None,
        }
    }

    fn org(name: &str) -> OrgToMatch {
        OrgToMatch {
            org_id: format!("o-{name}"),
            name: name.into(),
            domain: None,
        }
    }

    #[test]
    fn names_normalize_the_way_real_data_needs() {
        let n = |s: &str| normalize(s).tokens.join(" ");
        assert_eq!(n("Müller GmbH"), "mueller");
        assert_eq!(n("Mueller"), "mueller");
        assert_eq!(n("Smith & Jones, Inc."), "smith and jones");
        assert_eq!(n("Bellows College (trial)"), "bellows college");
        assert_eq!(n("Société Générale S.A."), "societe generale");
        assert_eq!(n("Acme Pty Ltd"), "acme");
        assert_eq!(n("Smith & Co."), "smith");
        assert_eq!(n("Ltd"), "ltd", "a name that is only a legal form keeps it");
        assert_eq!(identifier_compact("ContosoLtd"), "contoso");
        assert_eq!(domain_key("https://www.Contoso.com/about"), "contoso.com");
        assert_eq!(domain_key("billing@contoso.com"), "contoso.com");
    }

    #[test]
    fn decoys_are_told_apart_and_word_order_does_not_matter() {
        let companies = [
            company(1, "CedarAcctLLC", "Cedar Accounting LLC"),
            company(2, "CedarAcctGroup", "Cedar Accounting Group"),
            company(3, "JonesSmith", "Jones and Smith"),
        ];
        let out = suggest(
            &[
                org("Cedar Accounting, L.L.C."),
                org("Cedar Accounting Group"),
                org("Smith & Jones"),
            ],
            &companies,
            &[],
            &HashSet::new(),
            None,
            "agreement",
        );
        assert_eq!(out[0].best.as_ref().map(|b| b.company_id), Some(1));
        assert!(out[0].confident, "{:?}", out[0]);
        assert_eq!(out[0].alternatives[0].company_id, 2);
        assert_eq!(out[1].best.as_ref().map(|b| b.company_id), Some(2));
        assert!(out[1].confident);
        assert_eq!(out[2].best.as_ref().map(|b| b.company_id), Some(3));
        assert_eq!(
            out[2].reason,
            "same words in another order (ignoring case, accents and punctuation)"
        );
        // Without its own company, an organization is not matched to a
        // decoy with any confidence.
        let alone = suggest(
            &[org("Cedar Accounting Partners")],
            &companies[1..2],
            &[],
            &HashSet::new(),
            None,
            "agreement",
        );
        assert!(!alone[0].confident, "{:?}", alone[0]);
    }

    #[test]
    fn a_small_misspelling_is_nearly_the_same_but_a_missing_word_is_not() {
        let companies = [
            company(1, "X1", "Granite Engineering LLC"),
            company(2, "X2", "Müller Dental"),
        ];
        let out = suggest(
            &[
                org("Granit Engineering"),
                org("Muller Dental"),
                org("Granite"),
            ],
            &companies,
            &[],
            &HashSet::new(),
            None,
            "agreement",
        );
        assert_eq!(
            out[0].best.as_ref().map(|b| (b.company_id, b.score)),
            Some((1, 0.9))
        );
        assert!(out[0].confident);
        assert_eq!(out[1].best.as_ref().map(|b| b.company_id), Some(2));
        assert!(out[1].confident, "{:?}", out[1]);
        assert!(
            !out[2].confident,
            "one word of two is not enough: {:?}",
            out[2]
        );
    }

    #[test]
    fn identifiers_and_domains_count() {
        let mut contoso = company(254, "ContosoLtd", "Contoso Limited (EMEA)");
        contoso.domain = Some("contoso.com".into());
        let by_identifier = suggest(
            &[org("Contoso")],
            std::slice::from_ref(&contoso),
            &[],
            &HashSet::new(),
            None,
            "agreement",
        );
        assert!(
            by_identifier[0].reason.contains("identifier matches"),
            "{:?}",
            by_identifier[0]
        );
        assert!(by_identifier[0].confident);
        let mut with_domain = org("CTSO Holdings");
        with_domain.domain = Some("billing@contoso.com".into());
        let by_domain = suggest(
            &[with_domain],
            std::slice::from_ref(&contoso),
            &[],
            &HashSet::new(),
            None,
            "agreement",
        );
        assert!(
            by_domain[0].reason.contains("same domain"),
            "{:?}",
            by_domain[0]
        );
        assert!(by_domain[0].confident);
    }

    #[test]
    fn the_contract_is_the_only_active_one_or_the_only_one_of_the_type() {
        let contract = |id, company, kind: &str, cancelled| Contract {
            id,
            name: format!("{kind} {id}"),
            company_id: company,
            contract_type: Some(kind.into()),
            status: None,
            cancelled,
            start: None,
            end: None,
        };
        let companies = [company(1, "A", "Alpha"), company(2, "B", "Beta")];
        let contracts = [
            contract(10, 1, "Managed Services", false),
            contract(11, 1, "Block Time", true),
            contract(20, 2, "Managed Services", false),
            contract(21, 2, "Block Time", false),
        ];
        let out = suggest(
            &[org("Alpha"), org("Beta")],
            &companies,
            &contracts,
            &HashSet::new(),
            None,
            "agreement",
        );
        assert_eq!(out[0].agreement, Some((10, "Managed Services 10".into())));
        assert_eq!(out[1].agreement, None);
        assert!(
            out[1]
                .agreement_reason
                .starts_with("2 active agreements: pass --agreement-type")
        );
        let typed = suggest(
            &[org("Beta")],
            &companies,
            &contracts,
            &HashSet::new(),
            Some("managed services"),
            "agreement",
        );
        assert_eq!(typed[0].agreement.as_ref().map(|a| a.0), Some(20));
        // The contract already holding lines of mapped products comes first.
        let holding = HashSet::from([21]);
        let held = suggest(
            &[org("Beta")],
            &companies,
            &contracts,
            &holding,
            None,
            "agreement",
        );
        assert_eq!(held[0].agreement.as_ref().map(|a| a.0), Some(21));
        assert_eq!(
            held[0].agreement_reason,
            "the agreement already holding lines of mapped products"
        );
    }
}
