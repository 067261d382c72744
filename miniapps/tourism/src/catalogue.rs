//! The app's own catalogue of Huế's ticketed monuments: opening hours by
//! season and ticket types with their prices in VND (the Huế Monuments
//! Conservation Centre's public price list). Places themselves come from `geo`.

use crate::calendar::Date;

/// Opening hours, `HH:MM` to `HH:MM`, in summer (April–September) and the
/// rest of the year.
pub struct Hours {
    pub summer: (&'static str, &'static str),
    pub winter: (&'static str, &'static str),
}

impl Hours {
    /// The hours that apply on `date`.
    pub fn on(&self, date: Date) -> (&'static str, &'static str) {
        if (4..=9).contains(&date.month()) {
            self.summer
        } else {
            self.winter
        }
    }

    /// e.g. `06:30–17:30 (4–9), 07:00–17:30`.
    pub fn describe(&self, lang: &str) -> String {
        if self.summer == self.winter {
            return format!("{}–{}", self.summer.0, self.summer.1);
        }
        let (summer, winter) = if lang == "en" {
            ("April–September", "October–March")
        } else {
            ("tháng 4–9", "tháng 10–3")
        };
        format!(
            "{}–{} ({summer}); {}–{} ({winter})",
            self.summer.0, self.summer.1, self.winter.0, self.winter.1
        )
    }
}

/// A monument the app knows about: a `geo` place id with its hours.
pub struct Site {
    /// The `geo` place id.
    pub id: &'static str,
    /// The name if the city's map lacks the place.
    pub name_vi: &'static str,
    pub name_en: &'static str,
    pub about_vi: &'static str,
    pub about_en: &'static str,
    pub hours: Hours,
    /// Entry is free: no ticket is sold.
    pub free: bool,
}

impl Site {
    pub fn name(&self, lang: &str) -> &'static str {
        if lang == "en" {
            self.name_en
        } else {
            self.name_vi
        }
    }

    pub fn about(&self, lang: &str) -> &'static str {
        if lang == "en" {
            self.about_en
        } else {
            self.about_vi
        }
    }

    /// The ticket types valid here (single-site ones first, then combos).
    pub fn tickets(&self) -> Vec<&'static TicketType> {
        let mut tickets: Vec<&TicketType> = TICKETS
            .iter()
            .filter(|t| t.sites.contains(&self.id))
            .collect();
        tickets.sort_by_key(|t| t.sites.len() > 1);
        tickets
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Adult,
    Child,
}

impl Kind {
    pub fn id(self) -> &'static str {
        match self {
            Kind::Adult => "adult",
            Kind::Child => "child",
        }
    }

    pub fn label(self, lang: &str) -> &'static str {
        match (self, lang == "en") {
            (Kind::Adult, false) => "Người lớn",
            (Kind::Adult, true) => "Adult",
            (Kind::Child, false) => "Trẻ em 7–12 tuổi",
            (Kind::Child, true) => "Child aged 7–12",
        }
    }
}

/// A ticket for sale: one site, or several for a combined ticket.
pub struct TicketType {
    pub id: &'static str,
    /// The sites it admits to; the first is where the order is filed.
    pub sites: &'static [&'static str],
    pub kind: Kind,
    pub name_vi: &'static str,
    pub name_en: &'static str,
    /// VND per ticket.
    pub price: u64,
}

impl TicketType {
    pub fn name(&self, lang: &str) -> &'static str {
        if lang == "en" {
            self.name_en
        } else {
            self.name_vi
        }
    }

    pub fn is_combo(&self) -> bool {
        self.sites.len() > 1
    }

    /// The site the order is filed under.
    pub fn site(&self) -> &'static str {
        self.sites.first().copied().unwrap_or_default()
    }
}

const DAY_HOURS: Hours = Hours {
    summer: ("06:30", "17:30"),
    winter: ("07:00", "17:30"),
};

const TOMB_HOURS: Hours = Hours {
    summer: ("07:00", "17:30"),
    winter: ("07:00", "17:00"),
};

pub static SITES: &[Site] = &[
    Site {
        id: "dai-noi",
        name_vi: "Đại Nội Huế (Hoàng thành)",
        name_en: "Imperial City (Đại Nội)",
        about_vi: "Hoàng thành và Tử Cấm Thành của triều Nguyễn: Ngọ Môn, điện Thái Hòa, Thế Miếu, Hiển Lâm Các, cung Diên Thọ. Di sản Văn hóa Thế giới từ năm 1993.",
        about_en: "The Nguyễn dynasty's Imperial City and Forbidden Purple City: the Meridian Gate, the Palace of Supreme Harmony, the Thế Miếu temple, the Pavilion of Glory. A World Heritage Site since 1993.",
        hours: DAY_HOURS,
        free: false,
    },
    Site {
        id: "lang-tu-duc",
        name_vi: "Lăng Tự Đức (Khiêm Lăng)",
        name_en: "Tomb of Tự Đức (Khiêm Lăng)",
        about_vi: "Lăng tẩm thơ mộng nhất của triều Nguyễn, giữa rừng thông và hồ Lưu Khiêm, phường Thủy Xuân.",
        about_en: "The most poetic of the royal tombs, among pine woods around Lưu Khiêm lake in Thủy Xuân.",
        hours: TOMB_HOURS,
        free: false,
    },
    Site {
        id: "lang-minh-mang",
        name_vi: "Lăng Minh Mạng (Hiếu Lăng)",
        name_en: "Tomb of Minh Mạng (Hiếu Lăng)",
        about_vi: "Quần thể lăng đăng đối trên trục thần đạo dài 700 m, bên ngã ba Bằng Lãng nơi hai nguồn sông Hương gặp nhau.",
        about_en: "A symmetrical complex on a 700 m sacred axis, near Bằng Lãng where the two sources of the Perfume River meet.",
        hours: TOMB_HOURS,
        free: false,
    },
    Site {
        id: "lang-khai-dinh",
        name_vi: "Lăng Khải Định (Ứng Lăng)",
        name_en: "Tomb of Khải Định (Ứng Lăng)",
        about_vi: "Lăng trên sườn núi Châu Chữ, kết hợp kiến trúc Đông – Tây, nổi tiếng với cung Thiên Định khảm sành sứ.",
        about_en: "On the slope of Châu Chữ mountain, blending East and West, famous for the porcelain-mosaic Thiên Định palace.",
        hours: TOMB_HOURS,
        free: false,
    },
    Site {
        id: "lang-thieu-tri",
        name_vi: "Lăng Thiệu Trị (Xương Lăng)",
        name_en: "Tomb of Thiệu Trị (Xương Lăng)",
        about_vi: "Lăng vua Thiệu Trị ở xã Thủy Bằng, quay về hướng tây bắc, không có tường bao.",
        about_en: "The tomb of Emperor Thiệu Trị in Thủy Bằng, facing north-west, without an enclosing wall.",
        hours: TOMB_HOURS,
        free: false,
    },
    Site {
        id: "lang-dong-khanh",
        name_vi: "Lăng Đồng Khánh (Tư Lăng)",
        name_en: "Tomb of Đồng Khánh (Tư Lăng)",
        about_vi: "Lăng nhỏ với điện Ngưng Hy trang trí kính màu và tranh sơn mài, phường Thủy Xuân.",
        about_en: "A small tomb whose Ngưng Hy temple is decorated with stained glass and lacquer paintings, in Thủy Xuân.",
        hours: TOMB_HOURS,
        free: false,
    },
    Site {
        id: "cung-an-dinh",
        name_vi: "Cung An Định",
        name_en: "An Định Palace",
        about_vi: "Cung điện của vua Khải Định bên bờ sông An Cựu, với điện Khải Tường trang trí bích họa.",
        about_en: "Emperor Khải Định's palace on the An Cựu river, with the frescoed Khải Tường pavilion.",
        hours: DAY_HOURS,
        free: false,
    },
    Site {
        id: "chua-thien-mu",
        name_vi: "Chùa Thiên Mụ",
        name_en: "Thiên Mụ Pagoda",
        about_vi: "Ngôi chùa cổ trên đồi Hà Khê bên sông Hương, với tháp Phước Duyên bảy tầng. Vào cửa tự do; xin ăn mặc kín đáo.",
        about_en: "The old pagoda on Hà Khê hill above the Perfume River, with the seven-storey Phước Duyên tower. Free entry; please dress modestly.",
        hours: Hours {
            summer: ("08:00", "17:30"),
            winter: ("08:00", "17:30"),
        },
        free: true,
    },
];

const COMBO_SITES: &[&str] = &["dai-noi", "lang-tu-duc", "lang-minh-mang", "lang-khai-dinh"];

pub static TICKETS: &[TicketType] = &[
    TicketType {
        id: "dai-noi-adult",
        sites: &["dai-noi"],
        kind: Kind::Adult,
        name_vi: "Đại Nội – người lớn",
        name_en: "Imperial City – adult",
        price: 200_000,
    },
    TicketType {
        id: "dai-noi-child",
        sites: &["dai-noi"],
        kind: Kind::Child,
        name_vi: "Đại Nội – trẻ em",
        name_en: "Imperial City – child",
        price: 40_000,
    },
    TicketType {
        id: "lang-tu-duc-adult",
        sites: &["lang-tu-duc"],
        kind: Kind::Adult,
        name_vi: "Lăng Tự Đức – người lớn",
        name_en: "Tomb of Tự Đức – adult",
        price: 150_000,
    },
    TicketType {
        id: "lang-tu-duc-child",
        sites: &["lang-tu-duc"],
        kind: Kind::Child,
        name_vi: "Lăng Tự Đức – trẻ em",
        name_en: "Tomb of Tự Đức – child",
        price: 30_000,
    },
    TicketType {
        id: "lang-minh-mang-adult",
        sites: &["lang-minh-mang"],
        kind: Kind::Adult,
        name_vi: "Lăng Minh Mạng – người lớn",
        name_en: "Tomb of Minh Mạng – adult",
        price: 150_000,
    },
    TicketType {
        id: "lang-minh-mang-child",
        sites: &["lang-minh-mang"],
        kind: Kind::Child,
        name_vi: "Lăng Minh Mạng – trẻ em",
        name_en: "Tomb of Minh Mạng – child",
        price: 30_000,
    },
    TicketType {
        id: "lang-khai-dinh-adult",
        sites: &["lang-khai-dinh"],
        kind: Kind::Adult,
        name_vi: "Lăng Khải Định – người lớn",
        name_en: "Tomb of Khải Định – adult",
        price: 150_000,
    },
    TicketType {
        id: "lang-khai-dinh-child",
        sites: &["lang-khai-dinh"],
        kind: Kind::Child,
        name_vi: "Lăng Khải Định – trẻ em",
        name_en: "Tomb of Khải Định – child",
        price: 30_000,
    },
    TicketType {
        id: "lang-thieu-tri-adult",
        sites: &["lang-thieu-tri"],
        kind: Kind::Adult,
        name_vi: "Lăng Thiệu Trị – người lớn",
        name_en: "Tomb of Thiệu Trị – adult",
        price: 50_000,
    },
    TicketType {
        id: "lang-thieu-tri-child",
        sites: &["lang-thieu-tri"],
        kind: Kind::Child,
        name_vi: "Lăng Thiệu Trị – trẻ em",
        name_en: "Tomb of Thiệu Trị – child",
        price: 10_000,
    },
    TicketType {
        id: "lang-dong-khanh-adult",
        sites: &["lang-dong-khanh"],
        kind: Kind::Adult,
        name_vi: "Lăng Đồng Khánh – người lớn",
        name_en: "Tomb of Đồng Khánh – adult",
        price: 50_000,
    },
    TicketType {
        id: "lang-dong-khanh-child",
        sites: &["lang-dong-khanh"],
        kind: Kind::Child,
        name_vi: "Lăng Đồng Khánh – trẻ em",
        name_en: "Tomb of Đồng Khánh – child",
        price: 10_000,
    },
    TicketType {
        id: "cung-an-dinh-adult",
        sites: &["cung-an-dinh"],
        kind: Kind::Adult,
        name_vi: "Cung An Định – người lớn",
        name_en: "An Định Palace – adult",
        price: 50_000,
    },
    TicketType {
        id: "cung-an-dinh-child",
        sites: &["cung-an-dinh"],
        kind: Kind::Child,
        name_vi: "Cung An Định – trẻ em",
        name_en: "An Định Palace – child",
        price: 10_000,
    },
    TicketType {
        id: "combo-dai-noi-3-lang-adult",
        sites: COMBO_SITES,
        kind: Kind::Adult,
        name_vi: "Vé liên tuyến Đại Nội + 3 lăng (Tự Đức, Minh Mạng, Khải Định) – người lớn",
        name_en: "Combined ticket: Imperial City + 3 tombs (Tự Đức, Minh Mạng, Khải Định) – adult",
        price: 530_000,
    },
    TicketType {
        id: "combo-dai-noi-3-lang-child",
        sites: COMBO_SITES,
        kind: Kind::Child,
        name_vi: "Vé liên tuyến Đại Nội + 3 lăng (Tự Đức, Minh Mạng, Khải Định) – trẻ em",
        name_en: "Combined ticket: Imperial City + 3 tombs (Tự Đức, Minh Mạng, Khải Định) – child",
        price: 100_000,
    },
];

/// Children under 7 enter free, with an adult.
pub const UNDER_SEVEN_VI: &str = "Trẻ em dưới 7 tuổi được miễn vé khi đi cùng người lớn.";
pub const UNDER_SEVEN_EN: &str = "Children under 7 enter free with an adult.";

pub fn site(id: &str) -> Option<&'static Site> {
    SITES.iter().find(|s| s.id == id)
}

pub fn ticket(id: &str) -> Option<&'static TicketType> {
    TICKETS.iter().find(|t| t.id == id)
}
