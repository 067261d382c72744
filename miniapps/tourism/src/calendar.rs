//! Huế's events calendar: Huế's recurring events — nightly, weekly, yearly
//! and biennial — expanded into the days of a month. The event list is the
//! app's own static data; dates and Huế's "today" are the SDK's
//! (`citadel_sdk::time`, jiff's civil dates).

pub use citadel_sdk::time::Date;
use citadel_sdk::time::{self, jiff::Span};
use std::fmt;

/// `digits` ASCII digits as a number; none for anything else.
fn number(text: &str, digits: usize) -> Option<i16> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    pub year: i16,
    /// 1–12.
    pub month: i8,
}

impl Month {
    /// `YYYY-MM`, strictly.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let year = number(year, 4)?;
        let month = i8::try_from(number(month, 2)?).ok()?;
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    pub fn of(date: Date) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// Its first day.
    fn first(self) -> Date {
        Date::new(self.year, self.month, 1).unwrap_or(Date::MIN)
    }

    /// The month `months` later (earlier if negative); itself at the
    /// calendar's ends.
    fn plus(self, months: i32) -> Month {
        self.first()
            .checked_add(Span::new().months(months))
            .map_or(self, Month::of)
    }

    pub fn next(self) -> Month {
        self.plus(1)
    }

    pub fn previous(self) -> Month {
        self.plus(-1)
    }

    pub fn days(self) -> impl Iterator<Item = Date> {
        let first = self.first();
        (0..first.days_in_month()).map(move |n| time::add_days(first, i64::from(n)))
    }

    pub fn label(self, lang: &str) -> String {
        if lang == "en" {
            const NAMES: [&str; 12] = [
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ];
            format!("{} {}", NAMES[(self.month - 1) as usize % 12], self.year)
        } else {
            format!("Tháng {}/{}", self.month, self.year)
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// When an event comes back.
pub enum Recurrence {
    /// Every day.
    Daily,
    /// On these weekdays (0 Monday … 6 Sunday).
    Weekly(&'static [i8]),
    /// Every year, from (month, day) to (month, day) inclusive.
    Yearly((i8, i8), (i8, i8)),
    /// As `Yearly`, in even (`true`) or odd (`false`) years only.
    Biennial(bool, (i8, i8), (i8, i8)),
}

impl Recurrence {
    pub fn on(&self, date: Date) -> bool {
        let in_range = |from: (i8, i8), to: (i8, i8)| {
            let at = (date.month(), date.day());
            from <= at && at <= to
        };
        match self {
            Recurrence::Daily => true,
            Recurrence::Weekly(days) => days.contains(&time::weekday(date).to_monday_zero_offset()),
            Recurrence::Yearly(from, to) => in_range(*from, *to),
            Recurrence::Biennial(even, from, to) => {
                (date.year() % 2 == 0) == *even && in_range(*from, *to)
            }
        }
    }

    pub fn id(&self) -> &'static str {
        match self {
            Recurrence::Daily => "daily",
            Recurrence::Weekly(_) => "weekly",
            Recurrence::Yearly(..) => "yearly",
            Recurrence::Biennial(..) => "biennial",
        }
    }

    pub fn describe(&self, lang: &str) -> String {
        const VI: [&str; 7] = [
            "thứ Hai",
            "thứ Ba",
            "thứ Tư",
            "thứ Năm",
            "thứ Sáu",
            "thứ Bảy",
            "Chủ nhật",
        ];
        const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let en = lang == "en";
        match self {
            Recurrence::Daily if en => "Every day".into(),
            Recurrence::Daily => "Hằng ngày".into(),
            Recurrence::Weekly(days) => {
                let names: Vec<&str> = days
                    .iter()
                    .filter_map(|d| {
                        if en {
                            EN.get(*d as usize)
                        } else {
                            VI.get(*d as usize)
                        }
                    })
                    .copied()
                    .collect();
                if en {
                    format!("Every {}", names.join(", "))
                } else {
                    format!("Mỗi {}", names.join(", "))
                }
            }
            Recurrence::Yearly(from, to) if en => {
                format!("Every year, {}/{} to {}/{}", from.1, from.0, to.1, to.0)
            }
            Recurrence::Yearly(from, to) => {
                format!("Hằng năm, {}/{} – {}/{}", from.1, from.0, to.1, to.0)
            }
            Recurrence::Biennial(even, from, to) => {
                let years = match (even, en) {
                    (true, true) => "Even years",
                    (false, true) => "Odd years",
                    (true, false) => "Các năm chẵn",
                    (false, false) => "Các năm lẻ",
                };
                format!("{years}, {}/{} – {}/{}", from.1, from.0, to.1, to.0)
            }
        }
    }
}

/// A recurring event in Huế.
pub struct Event {
    pub id: &'static str,
    pub title_vi: &'static str,
    pub title_en: &'static str,
    pub about_vi: &'static str,
    pub about_en: &'static str,
    /// The `geo` place id where it happens.
    pub place: &'static str,
    /// Local time, e.g. `19:00–21:00`.
    pub time: &'static str,
    pub recurrence: Recurrence,
    /// Whether the dates are announced each edition (the calendar shows the usual ones).
    pub indicative: bool,
}

impl Event {
    pub fn title(&self, lang: &str) -> &'static str {
        if lang == "en" {
            self.title_en
        } else {
            self.title_vi
        }
    }

    pub fn about(&self, lang: &str) -> &'static str {
        if lang == "en" {
            self.about_en
        } else {
            self.about_vi
        }
    }

    /// The days of `month` it takes place on.
    pub fn dates_in(&self, month: Month) -> Vec<Date> {
        month.days().filter(|d| self.recurrence.on(*d)).collect()
    }
}

pub static EVENTS: &[Event] = &[
    Event {
        id: "ca-hue-song-huong",
        title_vi: "Ca Huế trên sông Hương",
        title_en: "Ca Huế folk music on the Perfume River",
        about_vi: "Nghe ca Huế trên thuyền rồng, thả hoa đăng trên sông Hương. Thuyền khởi hành từ bến Tòa Khâm.",
        about_en: "Huế's chamber folk music aboard a dragon boat, with floating lanterns on the river. Boats leave from the Tòa Khâm pier.",
        place: "ben-thuyen-toa-kham",
        time: "19:00–21:00",
        recurrence: Recurrence::Daily,
        indicative: false,
    },
    Event {
        id: "nha-nhac-cung-dinh",
        title_vi: "Biểu diễn Nhã nhạc cung đình Huế",
        title_en: "Royal court music (Nhã nhạc) performance",
        about_vi: "Nhã nhạc – Di sản văn hóa phi vật thể của nhân loại – tại nhà hát Duyệt Thị Đường trong Đại Nội (cần vé Đại Nội).",
        about_en: "Nhã nhạc, an Intangible Cultural Heritage of Humanity, at the Duyệt Thị Đường royal theatre inside the Imperial City (Imperial City ticket needed).",
        place: "duyet-thi-duong",
        time: "10:00, 15:00",
        recurrence: Recurrence::Daily,
        indicative: false,
    },
    Event {
        id: "doi-gac-ngo-mon",
        title_vi: "Lễ đổi gác Ngọ Môn",
        title_en: "Changing of the guard at the Meridian Gate",
        about_vi: "Tái hiện nghi thức đổi gác của lính Thị vệ triều Nguyễn trước Ngọ Môn.",
        about_en: "A re-enactment of the Nguyễn imperial guard changing before the Meridian Gate.",
        place: "ngo-mon",
        time: "09:00–09:30",
        recurrence: Recurrence::Daily,
        indicative: false,
    },
    Event {
        id: "dem-hoang-cung",
        title_vi: "Đêm Hoàng cung",
        title_en: "Royal Palace by night",
        about_vi: "Đại Nội mở cửa về đêm dưới ánh đèn lồng, với trình diễn áo dài, nhã nhạc và trò chơi cung đình.",
        about_en: "The Imperial City opens at night under lanterns, with áo dài shows, court music and royal games.",
        place: "dai-noi",
        time: "19:00–22:00",
        recurrence: Recurrence::Weekly(&[4, 5, 6]),
        indicative: false,
    },
    Event {
        id: "pho-di-bo-dem",
        title_vi: "Phố đi bộ và chợ đêm bên sông Hương",
        title_en: "Riverside walking street and night market",
        about_vi: "Phố đi bộ Nguyễn Đình Chiểu và chợ đêm cầu gỗ lim: ẩm thực, hàng lưu niệm, nhạc đường phố.",
        about_en: "The Nguyễn Đình Chiểu walking street and the ironwood-bridge night market: street food, crafts and buskers.",
        place: "pho-di-bo-nguyen-dinh-chieu",
        time: "18:00–23:00",
        recurrence: Recurrence::Weekly(&[4, 5, 6]),
        indicative: false,
    },
    Event {
        id: "festival-hue",
        title_vi: "Tuần lễ Festival Huế",
        title_en: "Huế Festival week",
        about_vi: "Tuần lễ chính của Festival Huế bốn mùa: lễ hội cung đình, nghệ thuật quốc tế, đêm khai mạc tại Đại Nội. Ngày cụ thể do Trung tâm Festival Huế công bố.",
        about_en: "The main week of the four-season Huế Festival: royal ceremonies, international arts, the opening night at the Imperial City. Exact dates are announced by the Huế Festival Centre.",
        place: "dai-noi",
        time: "08:00–22:00",
        recurrence: Recurrence::Biennial(true, (6, 6), (6, 11)),
        indicative: true,
    },
    Event {
        id: "le-te-nam-giao",
        title_vi: "Tái hiện Lễ tế Nam Giao",
        title_en: "Nam Giao Esplanade ceremony (re-enactment)",
        about_vi: "Nghi lễ tế trời đất của các vua Nguyễn, tái hiện tại Đàn Nam Giao trong dịp Festival Huế.",
        about_en: "The Nguyễn emperors' sacrifice to Heaven and Earth, re-enacted at the Nam Giao Esplanade during the Huế Festival.",
        place: "dan-nam-giao",
        time: "19:00–21:30",
        recurrence: Recurrence::Biennial(true, (6, 7), (6, 7)),
        indicative: true,
    },
    Event {
        id: "festival-nghe",
        title_vi: "Festival Nghề truyền thống Huế",
        title_en: "Huế Traditional Crafts Festival",
        about_vi: "Làng nghề nón lá, hương trầm, kim hoàn, gốm Phước Tích… trình diễn và bày bán bên bờ sông Hương.",
        about_en: "Conical hats, incense, goldsmiths, Phước Tích pottery and more, demonstrated and sold along the Perfume River.",
        place: "cong-vien-thuong-bac",
        time: "08:00–22:00",
        recurrence: Recurrence::Biennial(false, (4, 28), (5, 2)),
        indicative: true,
    },
    Event {
        id: "dua-ghe-quoc-khanh",
        title_vi: "Đua ghe truyền thống trên sông Hương",
        title_en: "Traditional boat race on the Perfume River",
        about_vi: "Các đội ghe của các phường, xã đua trên sông Hương đoạn cầu Trường Tiền mừng Quốc khánh 2/9.",
        about_en: "Crews from the wards and communes race on the Perfume River by the Trường Tiền bridge for National Day, 2 September.",
        place: "cau-truong-tien",
        time: "07:30–11:00",
        recurrence: Recurrence::Yearly((9, 2), (9, 2)),
        indicative: false,
    },
];
