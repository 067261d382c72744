//! Reconciliation and settlement: checks every ledger invariant from the
//! postings up — they sum to zero, balances equal their postings, no wallet
//! is negative, each intent captured once and refunded at most what was
//! captured — and sums a publisher's day of payments.

use super::{effective_status, Payments};
use crate::store::{IntentStatus, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What reconciliation found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reconciliation {
    pub clean: bool,
    pub problems: Vec<String>,
    pub postings: usize,
    pub accounts: usize,
    pub intents: usize,
    pub captured: usize,
}

/// One publisher's payments of one day (UTC).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Settlement {
    pub publisher: String,
    pub date: String,
    pub captured_count: usize,
    pub gross: u64,
    pub fees: u64,
    pub refunded: u64,
    pub net: i64,
    pub lines: Vec<SettlementLine>,
}

/// One intent in a settlement.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettlementLine {
    pub intent: String,
    pub app: String,
    pub reference: String,
    pub amount: u64,
    pub fee: u64,
    pub refunded: u64,
    pub captured_at: u64,
}

/// `YYYY-MM-DD` (UTC) of unix milliseconds.
pub fn utc_date(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

impl Payments {
    /// Check every invariant of the ledger.
    pub async fn reconcile(&self) -> Result<Reconciliation, StoreError> {
        let store = self.store();
        let postings = store.ledger.postings().await?;
        let balances = store.ledger.balances().await?;
        let intents = store.ledger.intents().await?;
        let mut problems = Vec::new();

        let total: i128 = postings.iter().map(|p| i128::from(p.amount)).sum();
        if total != 0 {
            problems.push(format!("postings sum to {total}, not 0"));
        }
        let mut by_tx: BTreeMap<&str, i128> = BTreeMap::new();
        let mut by_account: BTreeMap<&str, i64> = BTreeMap::new();
        // Each intent's postings, gathered in one pass: the check below is
        // linear in the ledger, not intents × postings.
        let mut by_intent: HashMap<&str, Vec<&crate::store::Posting>> = HashMap::new();
        for posting in &postings {
            *by_tx.entry(&posting.tx).or_default() += i128::from(posting.amount);
            *by_account.entry(&posting.account).or_default() += posting.amount;
            if let Some(intent) = &posting.intent {
                by_intent.entry(intent).or_default().push(posting);
            }
        }
        for (tx, sum) in by_tx.iter().filter(|(_, sum)| **sum != 0) {
            problems.push(format!("transaction {tx} sums to {sum}"));
        }
        for (account, balance) in &balances {
            let posted = by_account.get(account.as_str()).copied().unwrap_or(0);
            if posted != *balance {
                problems.push(format!(
                    "{account} holds {balance} but its postings sum to {posted}"
                ));
            }
            if account.starts_with("wallet:") && *balance < 0 {
                problems.push(format!("{account} is negative: {balance}"));
            }
        }
        let mut captured = 0;
        for intent in &intents {
            let merchant = format!("merchant:{}", intent.publisher);
            let own = by_intent
                .get(intent.id.as_str())
                .map_or(&[][..], Vec::as_slice);
            // A capture credits the merchant and the city's fee (either may
            // be 0: a fee of 0 or of the whole amount); a refund debits them.
            let mut credited_by_tx: BTreeMap<&str, i64> = BTreeMap::new();
            for posting in own
                .iter()
                .filter(|p| p.account == merchant || p.account == super::FEES)
            {
                *credited_by_tx.entry(&posting.tx).or_default() += posting.amount;
            }
            let credits = credited_by_tx.values().filter(|net| **net > 0).count();
            let is_captured = matches!(
                intent.status,
                IntentStatus::Captured | IntentStatus::Refunded
            );
            if is_captured {
                captured += 1;
            }
            let expected = usize::from(is_captured);
            if credits != expected {
                problems.push(format!(
                    "{} is {:?} but was captured {credits} times",
                    intent.id,
                    effective_status(intent, 0)
                ));
            }
            if intent.refunded > intent.amount {
                problems.push(format!(
                    "{} refunded {} of {}",
                    intent.id, intent.refunded, intent.amount
                ));
            }
            let net: i64 = own
                .iter()
                .filter(|p| p.account == merchant || p.account == super::FEES)
                .map(|p| p.amount)
                .sum();
            let expected_net = if is_captured {
                intent.amount as i64 - intent.refunded as i64
            } else {
                0
            };
            if net != expected_net {
                problems.push(format!(
                    "{}: merchant and fee postings net {net}, expected {expected_net}",
                    intent.id
                ));
            }
        }
        Ok(Reconciliation {
            clean: problems.is_empty(),
            problems,
            postings: postings.len(),
            accounts: balances.len(),
            intents: intents.len(),
            captured,
        })
    }

    /// `publisher`'s payments captured on `date` (UTC, `YYYY-MM-DD`).
    pub async fn settlement(&self, publisher: &str, date: &str) -> Result<Settlement, StoreError> {
        let lines: Vec<SettlementLine> = self
            .store()
            .ledger
            .intents()
            .await?
            .into_iter()
            .filter(|i| i.publisher == publisher)
            .filter_map(|i| {
                let at = i.captured_at?;
                (utc_date(at) == date).then_some(SettlementLine {
                    intent: i.id,
                    app: i.app,
                    reference: i.reference,
                    amount: i.amount,
                    fee: i.fee - i.fee_refunded,
                    refunded: i.refunded,
                    captured_at: at,
                })
            })
            .collect();
        let gross: u64 = lines.iter().map(|l| l.amount).sum();
        let fees: u64 = lines.iter().map(|l| l.fee).sum();
        let refunded: u64 = lines.iter().map(|l| l.refunded).sum();
        Ok(Settlement {
            publisher: publisher.to_string(),
            date: date.to_string(),
            captured_count: lines.len(),
            gross,
            fees,
            refunded,
            net: gross as i64 - fees as i64 - refunded as i64,
            lines,
        })
    }
}

impl Settlement {
    /// The settlement as CSV, one line per intent.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("intent,app,reference,amount,fee,refunded,captured_at\n");
        for line in &self.lines {
            let reference = line.reference.replace('"', "\"\"");
            csv.push_str(&format!(
                "{},{},\"{reference}\",{},{},{},{}\n",
                line.intent, line.app, line.amount, line.fee, line.refunded, line.captured_at
            ));
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(super::utc_date(0), "1970-01-01");
        assert_eq!(super::utc_date(1_795_000_000_000), "2026-11-18");
        assert_eq!(super::utc_date(951_782_400_000), "2000-02-29");
    }
}
