//! The app's own bill store, used while no billing API is configured:
//! eleven HueWACO customers in Huế with one to three monthly water bills,
//! written to kv on first use (each key and the marker only if absent).

use crate::source::{Account, Bill, Customer};
use citadel_sdk::{kv, Result};

/// Present once the seed is complete.
const MARKER: &str = "seed/v1";

fn customer_key(code: &str) -> String {
    format!("customer/{code}")
}

/// (code, name, address, [(period, m³, amount, paid at the counter)]).
type SeedRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, u32, u64, bool)],
);

const CUSTOMERS: &[SeedRow] = &[
    (
        "PK0012345",
        "Nguyễn Văn Hùng",
        "12 Lê Lợi, phường Vĩnh Ninh, Huế",
        &[
            ("2026-08", 15, 186_400, true),
            ("2026-09", 14, 172_300, false),
            ("2026-10", 16, 198_700, false),
        ],
    ),
    (
        "PK0023456",
        "Trần Thị Mai",
        "45 Trần Hưng Đạo, phường Phú Hòa, Huế",
        &[("2026-10", 10, 124_500, false)],
    ),
    (
        "PK0034567",
        "Lê Quang Minh",
        "8 kiệt 42 Nguyễn Huệ, phường Vĩnh Ninh, Huế",
        &[
            ("2026-09", 19, 243_600, false),
            ("2026-10", 20, 256_900, false),
        ],
    ),
    (
        "PK0045678",
        "Phạm Thị Hoa",
        "27 Chi Lăng, phường Phú Hiệp, Huế",
        &[("2026-10", 8, 98_200, false)],
    ),
    (
        "PK0056789",
        "Hoàng Văn Nam",
        "156 Hùng Vương, phường Phú Hội, Huế",
        &[
            ("2026-08", 24, 312_400, true),
            ("2026-09", 23, 298_800, true),
            ("2026-10", 26, 334_100, false),
        ],
    ),
    (
        "PK0067890",
        "Võ Thị Lan Anh",
        "3 Kim Long, phường Kim Long, Huế",
        &[("2026-10", 7, 87_600, false)],
    ),
    (
        "PK0078901",
        "Ngô Đình Khoa",
        "61 Điện Biên Phủ, phường Trường An, Huế",
        &[
            ("2026-09", 12, 145_200, false),
            ("2026-10", 12, 151_800, false),
        ],
    ),
    (
        "PK0089012",
        "Đặng Thị Thu Hà",
        "19 Nguyễn Sinh Cung, phường Vỹ Dạ, Huế",
        &[("2026-10", 31, 412_300, false)],
    ),
    (
        "PK0090123",
        "Bùi Văn Tâm",
        "88 Phan Đình Phùng, phường Phú Nhuận, Huế",
        &[("2026-10", 14, 176_000, false)],
    ),
    (
        "PK0101234",
        "Huỳnh Thị Ngọc",
        "5 Lê Duẩn, phường Phú Thuận, Huế",
        &[
            ("2026-09", 9, 109_900, true),
            ("2026-10", 9, 118_400, false),
        ],
    ),
    (
        "PK0112345",
        "Tôn Nữ Thảo Nguyên",
        "22 Đặng Trần Côn, phường Thuận Hòa, Huế",
        &[("2026-10", 16, 203_500, false)],
    ),
];

/// The due date of a period's bill: the 15th of the next month.
fn due(period: &str) -> String {
    let (year, month) = period.split_once('-').unwrap_or(("2026", "10"));
    let (year, month): (u32, u32) = (year.parse().unwrap_or(2026), month.parse().unwrap_or(10));
    let (year, month) = if month >= 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    format!("{year:04}-{month:02}-15")
}

fn accounts() -> impl Iterator<Item = Account> {
    CUSTOMERS
        .iter()
        .map(|(code, name, address, bills)| Account {
            customer: Customer {
                code: code.to_string(),
                name: name.to_string(),
                address: address.to_string(),
            },
            bills: bills
                .iter()
                .map(|(period, usage, amount, paid)| Bill {
                    id: format!("{code}-{}", period.replace('-', "")),
                    period: period.to_string(),
                    amount: *amount,
                    due: due(period),
                    status: if *paid { "paid" } else { "unpaid" }.into(),
                    usage_m3: Some(*usage),
                })
                .collect(),
        })
}

/// Write the seed unless the marker says it is there. Every key is
/// inserted only if absent, so two first requests at once write each
/// customer once and neither overwrites the other (nor later changes).
fn ensure() -> Result<()> {
    if kv::get(MARKER)?.is_some() {
        return Ok(());
    }
    let mut count = 0u32;
    for account in accounts() {
        kv::insert_new_json(&customer_key(&account.customer.code), &account)?;
        count += 1;
    }
    if kv::insert_new_json(MARKER, &serde_json::json!({ "customers": count }))? {
        citadel_sdk::log::info(&format!("seeded {count} customers"));
    }
    Ok(())
}

/// Customer `code` and their bills from the seeded store.
pub fn account(code: &str) -> Result<Option<Account>> {
    ensure()?;
    kv::get_json(&customer_key(code))
}

/// A few seeded codes, to show as examples on the lookup page.
pub fn example_codes() -> [&'static str; 2] {
    [CUSTOMERS[0].0, CUSTOMERS[1].0]
}
