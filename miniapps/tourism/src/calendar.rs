//! Dates in Huế's time (UTC+7) and the events calendar: Huế's recurring
//! events — nightly, weekly, yearly and biennial — expanded into the days of
//! a month. The event list is the app's own static data.

use citadel_sdk::ids::now_ms;
use std::fmt;

/// A civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `digits` ASCII digits as a number; none for anything else.
fn number(text: &str, digits: usize) -> Option<u32> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

impl Date {
    /// `YYYY-MM-DD`, strictly, and a real day.
    pub fn parse(text: &str) -> Option<Date> {
        let mut parts = text.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let year = number(year, 4)? as i32;
        let month = number(month, 2)?;
        let day = number(day, 2)?;
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month))
            .then_some(Date { year, month, day })
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// 0 for Monday … 6 for Sunday.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday.
        (self.days() + 3).rem_euclid(7) as u32
    }

    /// Today in Huế.
    pub fn today() -> Date {
        Date::from_days(((now_ms() / 1000 + 7 * 3600) / 86_400) as i64)
    }

    pub fn add_days(self, days: i64) -> Date {
        Date::from_days(self.days() + days)
    }

    /// `dd/mm/yyyy`, as Vietnam writes dates.
    pub fn local(self) -> String {
        format!("{:02}/{:02}/{}", self.day, self.month, self.year)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// `YYYY-MM`, strictly.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let year = number(year, 4)? as i32;
        let month = number(month, 2)?;
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    pub fn of(date: Date) -> Month {
        Month {
            year: date.year,
            month: date.month,
        }
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                month: self.month + 1,
                ..self
            }
        }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                month: self.month - 1,
                ..self
            }
        }
    }

    pub fn days(self) -> impl Iterator<Item = Date> {
        (1..=days_in_month(self.year, self.month)).map(move |day| Date {
            year: self.year,
            month: self.month,
            day,
        })
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
    Weekly(&'static [u32]),
    /// Every year, from (month, day) to (month, day) inclusive.
    Yearly((u32, u32), (u32, u32)),
    /// As `Yearly`, in even (`true`) or odd (`false`) years only.
    Biennial(bool, (u32, u32), (u32, u32)),
}

impl Recurrence {
    pub fn on(&self, date: Date) -> bool {
        let in_range = |from: (u32, u32), to: (u32, u32)| {
            let at = (date.month, date.day);
            from <= at && at <= to
        };
        match self {
            Recurrence::Daily => true,
            Recurrence::Weekly(days) => days.contains(&date.weekday()),
            Recurrence::Yearly(from, to) => in_range(*from, *to),
            Recurrence::Biennial(even, from, to) => {
                (date.year % 2 == 0) == *even && in_range(*from, *to)
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
