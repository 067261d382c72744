//! Reconciliation and settlement: checks every ledger invariant from the
//! postings up — they sum to zero, balances equal their postings, no wallet
//! is negative, each intent captured once and refunded at most what was
//! captured — and sums a publisher's day of payments and refunds.

use super::{effective_status, Payments};
use crate::store::{IntentRecord, IntentStatus, StoreError};
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

/// One publisher's payments of one day (UTC): captures and refunds, each
/// on the day it happened.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Settlement {
    pub publisher: String,
    pub date: String,
    /// Payments captured that day.
    pub captured_count: usize,
    /// What they captured, VND.
    pub gross: u64,
    /// The city's fees on them.
    pub fees: u64,
    /// Refunded that day, of payments captured that day or before.
    pub refunded: u64,
    /// The fees those refunds gave back.
    pub fees_returned: u64,
    /// gross − fees − refunded + fees_returned.
    pub net: i64,
    pub lines: Vec<SettlementLine>,
}

/// One intent's part in a day's settlement.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettlementLine {
    pub intent: String,
    pub app: String,
    pub reference: String,
    /// Captured that day (0 when it was captured before and refunded that day).
    pub amount: u64,
    /// The fee on that capture.
    pub fee: u64,
    /// Refunded that day.
    pub refunded: u64,
    /// The fee those refunds gave back.
    pub fee_returned: u64,
    /// When it was captured (unix milliseconds).
    pub captured_at: u64,
}

/// `YYYY-MM-DD` (UTC) of unix milliseconds.
pub fn utc_date(ms: u64) -> String {
    let (year, month, day) = crate::calendar::civil_date(ms / 86_400_000);
    format!("{year:04}-{month:02}-{day:02}")
}

impl Payments {
    /// Refunds a provider still owes (not acknowledged) that no outbox entry
    /// will send: none should exist. The outbox is read after the intents,
    /// and a refund found missing is read again, since it may have been
    /// acknowledged (then its entry removed) between the two reads.
    async fn unsent_refunds(&self, intents: &[IntentRecord]) -> Result<Vec<String>, StoreError> {
        let queued: std::collections::HashSet<(String, String, String, bool)> = self
            .store()
            .ledger
            .outbox()
            .await?
            .into_iter()
            .filter_map(|entry| {
                let refund = entry.refund?;
                Some((
                    entry.intent,
                    refund.provider,
                    refund.reference,
                    refund.returns_payment,
                ))
            })
            .collect();
        let mut problems = Vec::new();
        for intent in intents {
            for owed in intent.unacknowledged_refunds() {
                let (provider, reference, returns) = owed.clone();
                if queued.contains(&(intent.id.clone(), provider, reference.clone(), returns)) {
                    continue;
                }
                let now = self.store().ledger.intent(&intent.id).await?;
                if now
                    .as_ref()
                    .is_some_and(|now| now.unacknowledged_refunds().contains(&owed))
                {
                    let what = if returns {
                        format!("the return of payment {reference}")
                    } else {
                        format!("refund {reference}")
                    };
                    problems.push(format!(
                        "{}: {what} is owed by its provider and not queued to be sent",
                        intent.id
                    ));
                }
            }
        }
        Ok(problems)
    }

    /// Check every invariant of the ledger.
    pub async fn reconcile(&self) -> Result<Reconciliation, StoreError> {
        let crate::store::LedgerSnapshot {
            postings,
            balances,
            intents,
        } = self.store().ledger.whole_ledger().await?;
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
        problems.extend(self.unsent_refunds(&intents).await?);
        Ok(Reconciliation {
            clean: problems.is_empty(),
            problems,
            postings: postings.len(),
            accounts: balances.len(),
            intents: intents.len(),
            captured,
        })
    }

    /// What moved for `publisher` on `date` (UTC, `YYYY-MM-DD`): the
    /// payments captured that day and the refunds made that day, each on the
    /// day it happened, so a settlement once paid never changes.
    pub async fn settlement(&self, publisher: &str, date: &str) -> Result<Settlement, StoreError> {
        let intents = self.store().ledger.intents().await?;
        Ok(Settlement::of_day(&intents, publisher, date))
    }
}

impl Settlement {
    /// `publisher`'s settlement for `date`, from every intent.
    pub fn of_day(intents: &[IntentRecord], publisher: &str, date: &str) -> Settlement {
        let lines: Vec<SettlementLine> = intents
            .iter()
            .filter(|i| i.publisher == publisher)
            .filter_map(|i| {
                let captured_at = i.captured_at?;
                let captured_today = utc_date(captured_at) == date;
                // Each refund gives back what the refund step computed: the
                // fee on all refunded so far, less what earlier ones gave back.
                let (mut refunded, mut fee_returned) = (0, 0);
                let (mut so_far, mut fee_back_so_far) = (0u64, 0u64);
                for refund in &i.refunds {
                    so_far += refund.amount;
                    let fee_after = super::fee_returned_after(i, so_far);
                    if utc_date(refund.at) == date {
                        refunded += refund.amount;
                        fee_returned += fee_after - fee_back_so_far;
                    }
                    fee_back_so_far = fee_after;
                }
                (captured_today || refunded > 0).then(|| SettlementLine {
                    intent: i.id.clone(),
                    app: i.app.clone(),
                    reference: i.reference.clone(),
                    amount: if captured_today { i.amount } else { 0 },
                    fee: if captured_today { i.fee } else { 0 },
                    refunded,
                    fee_returned,
                    captured_at,
                })
            })
            .collect();
        let gross: u64 = lines.iter().map(|l| l.amount).sum();
        let fees: u64 = lines.iter().map(|l| l.fee).sum();
        let refunded: u64 = lines.iter().map(|l| l.refunded).sum();
        let fees_returned: u64 = lines.iter().map(|l| l.fee_returned).sum();
        Settlement {
            publisher: publisher.to_string(),
            date: date.to_string(),
            captured_count: lines.iter().filter(|l| l.amount > 0).count(),
            gross,
            fees,
            refunded,
            fees_returned,
            net: gross as i64 - fees as i64 - refunded as i64 + fees_returned as i64,
            lines,
        }
    }

    /// The settlement as CSV, one line per intent.
    pub fn to_csv(&self) -> String {
        let mut csv =
            String::from("intent,app,reference,amount,fee,refunded,fee_returned,captured_at\n");
        for line in &self.lines {
            let reference = line.reference.replace('"', "\"\"");
            csv.push_str(&format!(
                "{},{},\"{reference}\",{},{},{},{},{}\n",
                line.intent,
                line.app,
                line.amount,
                line.fee,
                line.refunded,
                line.fee_returned,
                line.captured_at
            ));
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RefundRecord;

    const DAY: u64 = 86_400_000;

    fn captured(id: &str, amount: u64, fee: u64, at: u64, refunds: &[(u64, u64)]) -> IntentRecord {
        IntentRecord {
            id: id.into(),
            app: "bills".into(),
            publisher: "vnpt-hue".into(),
            citizen: "c-lan".into(),
            pairwise_id: "p".into(),
            reference: id.into(),
            amount,
            description: String::new(),
            status: IntentStatus::Captured,
            created_at: at,
            expires_at: at + 900_000,
            captured_at: Some(at),
            method: Some("demo-wallet".into()),
            fee,
            refunded: refunds.iter().map(|(amount, _)| amount).sum(),
            fee_refunded: 0,
            refunds: refunds
                .iter()
                .enumerate()
                .map(|(n, &(amount, at))| RefundRecord {
                    reference: format!("r{n}"),
                    amount,
                    at,
                    provider: None,
                })
                .collect(),
            provider_ref: None,
            returned: Vec::new(),
        }
    }

    /// A settlement once paid never changes: a refund the next day is the
    /// next day's, with the fee it gives back.
    #[test]
    fn a_refund_is_settled_on_the_day_it_is_made() {
        let day = 20_000 * DAY;
        let (d, d1) = (utc_date(day), utc_date(day + DAY));
        let before = Settlement::of_day(
            &[captured("pi_a", 100_000, 1_000, day + 5, &[])],
            "vnpt-hue",
            &d,
        );
        assert_eq!(
            (before.gross, before.fees, before.net),
            (100_000, 1_000, 99_000)
        );

        // Half refunded on D+1 and the rest on D+2.
        let intents = [
            captured(
                "pi_a",
                100_000,
                1_000,
                day + 5,
                &[(50_000, day + DAY + 7), (50_000, day + 2 * DAY + 7)],
            ),
            captured("pi_b", 20_000, 200, day + DAY + 9, &[]),
        ];
        let on_d = Settlement::of_day(&intents, "vnpt-hue", &d);
        assert_eq!(
            (on_d.gross, on_d.fees, on_d.refunded, on_d.net),
            (100_000, 1_000, 0, 99_000)
        );
        let on_d1 = Settlement::of_day(&intents, "vnpt-hue", &d1);
        assert_eq!(on_d1.captured_count, 1);
        assert_eq!(
            (on_d1.gross, on_d1.fees, on_d1.refunded, on_d1.fees_returned),
            (20_000, 200, 50_000, 500)
        );
        assert_eq!(on_d1.net, 20_000 - 200 - 50_000 + 500);
        let on_d2 = Settlement::of_day(&intents, "vnpt-hue", &utc_date(day + 2 * DAY));
        assert_eq!(
            (on_d2.captured_count, on_d2.refunded, on_d2.fees_returned),
            (0, 50_000, 500)
        );
        // Over the days, the publisher is paid exactly what it kept.
        assert_eq!(on_d.net + on_d1.net + on_d2.net, 20_000 - 200);
        assert!(on_d1
            .to_csv()
            .starts_with("intent,app,reference,amount,fee,refunded,fee_returned,captured_at\n"));
        assert!(Settlement::of_day(&intents, "another", &d).lines.is_empty());
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(super::utc_date(0), "1970-01-01");
        assert_eq!(super::utc_date(1_795_000_000_000), "2026-11-18");
        assert_eq!(super::utc_date(951_782_400_000), "2000-02-29");
    }
}
