//! Citizens and how they sign in: the `IdentityProvider` trait, and the
//! development provider with seeded demo citizens of Huế (switched off in
//! production by configuration; a real OIDC provider plugs in behind the trait).

pub use crate::citizen::{Citizen, Role};

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignInError {
    #[error("no citizen `{0}` is known to the identity provider")]
    UnknownCitizen(String),
    #[error("this identity provider does not accept direct sign-in")]
    NotSupported,
}

/// Where citizens come from.
pub trait IdentityProvider: Send + Sync + 'static {
    /// A short name for logs and the shell (`development`, `oidc`, …).
    fn kind(&self) -> &'static str;
    /// Sign a citizen in from the provider's credential (for the development
    /// provider: the citizen id chosen in the shell).
    fn sign_in(&self, credential: &str) -> Result<Citizen, SignInError>;
    /// The citizen with `id`, for a session that is still valid.
    fn citizen(&self, id: &str) -> Option<Citizen>;
    /// Citizens a development sign-in page may list; empty in production.
    fn demo_citizens(&self) -> Vec<Citizen> {
        Vec::new()
    }
}

/// Seeded demo citizens; for development and tests only.
pub struct DevelopmentProvider {
    citizens: Vec<Citizen>,
}

fn citizen(
    id: &str,
    name: &str,
    phone: &str,
    national_id: &str,
    address: &str,
    birth_date: &str,
    roles: &[(&str, &str)],
) -> Citizen {
    Citizen {
        id: id.into(),
        name: name.into(),
        phone: phone.into(),
        national_id: national_id.into(),
        address: address.into(),
        birth_date: birth_date.into(),
        locale: "vi".into(),
        roles: roles
            .iter()
            .map(|(unit, role)| Role {
                unit: (*unit).into(),
                role: (*role).into(),
            })
            .collect(),
    }
}

impl Default for DevelopmentProvider {
    fn default() -> Self {
        DevelopmentProvider {
            citizens: vec![
                citizen(
                    "c-lan",
                    "Nguyễn Thị Lan",
                    "0905123456",
                    "046190001234",
                    "12 Lê Lợi, phường Vĩnh Ninh, Huế",
                    "1990-03-14",
                    &[],
                ),
                citizen(
                    "c-minh",
                    "Trần Văn Minh",
                    "0914234567",
                    "046085002345",
                    "45 Kim Long, phường Kim Long, Huế",
                    "1985-07-02",
                    &[],
                ),
                citizen(
                    "c-hoa",
                    "Lê Thị Hoa",
                    "0935345678",
                    "046195003456",
                    "8 Phan Đình Phùng, phường Phú Nhuận, Huế",
                    "1995-11-20",
                    &[],
                ),
                citizen(
                    "c-tuan",
                    "Phạm Quốc Tuấn",
                    "0989456789",
                    "046178004567",
                    "101 Hùng Vương, phường Phú Hội, Huế",
                    "1978-01-30",
                    &[("ubnd-phu-hoi", "staff")],
                ),
                citizen(
                    "c-thu",
                    "Hoàng Minh Thư",
                    "0978567890",
                    "046192005678",
                    "23 Nguyễn Huệ, phường Vĩnh Ninh, Huế",
                    "1992-05-09",
                    &[("moitruong-do-thi-hue", "staff")],
                ),
                citizen(
                    "c-khang",
                    "Võ Đình Khang",
                    "0966678901",
                    "046170006789",
                    "5 Đinh Tiên Hoàng, phường Thuận Thành, Huế",
                    "1970-09-17",
                    &[("ioc-hue", "coordinator")],
                ),
                citizen(
                    "c-an",
                    "Trần Thị An",
                    "0905789012",
                    "046188007890",
                    "1 Lê Lai, phường Vĩnh Ninh, Huế",
                    "1988-04-12",
                    &[("trung-tam-hcc", "officer")],
                ),
                citizen(
                    "c-binh",
                    "Nguyễn Văn Bình",
                    "0914890123",
                    "046183008901",
                    "77 Đoàn Thị Điểm, phường Thuận Thành, Huế",
                    "1983-12-01",
                    &[("bao-ton-di-tich", "gate")],
                ),
                citizen(
                    "c-vy",
                    "Lê Thảo Vy",
                    "0935901234",
                    "046196009012",
                    "103 Bà Triệu, phường Xuân Phú, Huế",
                    "1996-06-25",
                    &[("capnuoc-hue", "billing-admin")],
                ),
                citizen(
                    "c-dung",
                    "Đặng Văn Dũng",
                    "0905012345",
                    "046187010123",
                    "14 Trần Hưng Đạo, phường Đông Ba, Huế",
                    "1987-08-19",
                    &[("baidoxe-hue", "attendant")],
                ),
            ],
        }
    }
}

impl IdentityProvider for DevelopmentProvider {
    fn kind(&self) -> &'static str {
        "development"
    }

    fn sign_in(&self, credential: &str) -> Result<Citizen, SignInError> {
        self.citizen(credential)
            .ok_or_else(|| SignInError::UnknownCitizen(credential.to_string()))
    }

    fn citizen(&self, id: &str) -> Option<Citizen> {
        self.citizens
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .or_else(|| synthetic(id))
    }

    fn demo_citizens(&self) -> Vec<Citizen> {
        self.citizens.clone()
    }
}

/// Synthetic demo citizens `c-demo-1` … `c-demo-100000`, for load and
/// rollout tests that need many distinct citizens.
fn synthetic(id: &str) -> Option<Citizen> {
    let n: u32 = id.strip_prefix("c-demo-")?.parse().ok()?;
    if !(1..=100_000).contains(&n) || id != format!("c-demo-{n}") {
        return None;
    }
    Some(citizen(
        id,
        &format!("Công dân thử nghiệm {n}"),
        &format!("09{n:08}"),
        &format!("0461{n:08}"),
        "Huế",
        "2000-01-01",
        &[],
    ))
}

/// A provider that signs nobody in: production without a configured provider.
pub struct NoProvider;

impl IdentityProvider for NoProvider {
    fn kind(&self) -> &'static str {
        "none"
    }

    fn sign_in(&self, _credential: &str) -> Result<Citizen, SignInError> {
        Err(SignInError::NotSupported)
    }

    fn citizen(&self, _id: &str) -> Option<Citizen> {
        None
    }
}
