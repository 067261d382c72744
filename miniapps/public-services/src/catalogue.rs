//! The catalogue of administrative procedures (thủ tục hành chính) the
//! city offers online: agency, required documents, processing time, fee, and
//! which of the citizen's identity fields prefill the dossier.

use citadel_sdk::identity::Scope;

/// One procedure.
pub struct Procedure {
    pub id: &'static str,
    pub name_vi: &'static str,
    pub name_en: &'static str,
    /// Lĩnh vực: the field it belongs to.
    pub field: &'static str,
    pub agency: &'static str,
    pub documents: &'static [&'static str],
    pub processing_days: u32,
    /// VND; 0 is free.
    pub fee: u64,
    /// Whether it is fully online (dịch vụ công trực tuyến toàn trình).
    pub fully_online: bool,
}

/// Identity fields every dossier is prefilled with, after consent.
pub const PREFILL: [Scope; 4] = [
    Scope::Name,
    Scope::NationalId,
    Scope::Address,
    Scope::BirthDate,
];

/// `procedure!(id, vi, en, field, agency, [documents], days, fee, online)`.
macro_rules! procedure {
    ($id:expr, $vi:expr, $en:expr, $field:expr, $agency:expr, [$($doc:expr),* $(,)?], $days:expr, $fee:expr, $online:expr $(,)?) => {
        Procedure {
            id: $id,
            name_vi: $vi,
            name_en: $en,
            field: $field,
            agency: $agency,
            documents: &[$($doc),*],
            processing_days: $days,
            fee: $fee,
            fully_online: $online,
        }
    };
}

const WARD: &str = "UBND phường nơi cư trú";
const CITY: &str = "UBND thành phố Huế";
const PROVINCE_JUSTICE: &str = "Sở Tư pháp";
const CONSTRUCTION: &str = "Sở Xây dựng";
const POLICE: &str = "Công an thành phố Huế";

pub static PROCEDURES: &[Procedure] = &[
    procedure!(
        "dang-ky-khai-sinh",
        "Đăng ký khai sinh",
        "Birth registration",
        "Hộ tịch",
        WARD,
        [
            "Tờ khai đăng ký khai sinh",
            "Giấy chứng sinh",
            "Giấy tờ tùy thân của người đi đăng ký",
        ],
        1,
        0,
        true,
    ),
    procedure!(
        "dang-ky-khai-tu",
        "Đăng ký khai tử",
        "Death registration",
        "Hộ tịch",
        WARD,
        ["Tờ khai đăng ký khai tử", "Giấy báo tử"],
        1,
        0,
        true,
    ),
    procedure!(
        "dang-ky-ket-hon",
        "Đăng ký kết hôn",
        "Marriage registration",
        "Hộ tịch",
        WARD,
        [
            "Tờ khai đăng ký kết hôn",
            "Giấy xác nhận tình trạng hôn nhân (nếu đăng ký ở nơi khác nơi cư trú)",
        ],
        3,
        0,
        false,
    ),
    procedure!(
        "xac-nhan-tinh-trang-hon-nhan",
        "Cấp Giấy xác nhận tình trạng hôn nhân",
        "Marital status certificate",
        "Hộ tịch",
        WARD,
        [
            "Tờ khai cấp Giấy xác nhận tình trạng hôn nhân",
            "Bản án ly hôn hoặc giấy chứng tử của vợ/chồng (nếu có)",
        ],
        3,
        15_000,
        true,
    ),
    procedure!(
        "trich-luc-ho-tich",
        "Cấp bản sao trích lục hộ tịch",
        "Copy of a civil-status extract",
        "Hộ tịch",
        WARD,
        ["Tờ khai cấp bản sao trích lục hộ tịch"],
        1,
        8_000,
        true,
    ),
    procedure!(
        "thay-doi-cai-chinh-ho-tich",
        "Thay đổi, cải chính, bổ sung thông tin hộ tịch",
        "Correcting civil-status records",
        "Hộ tịch",
        WARD,
        [
            "Tờ khai thay đổi, cải chính hộ tịch",
            "Giấy tờ chứng minh thông tin đúng",
        ],
        3,
        15_000,
        false,
    ),
    procedure!(
        "xac-nhan-cu-tru",
        "Xác nhận thông tin về cư trú",
        "Residence confirmation",
        "Cư trú",
        POLICE,
        ["Tờ khai thay đổi thông tin cư trú (CT01)"],
        1,
        0,
        true,
    ),
    procedure!(
        "dang-ky-thuong-tru",
        "Đăng ký thường trú",
        "Permanent residence registration",
        "Cư trú",
        POLICE,
        [
            "Tờ khai thay đổi thông tin cư trú (CT01)",
            "Giấy tờ chứng minh chỗ ở hợp pháp",
        ],
        7,
        20_000,
        false,
    ),
    procedure!(
        "dang-ky-tam-tru",
        "Đăng ký tạm trú",
        "Temporary residence registration",
        "Cư trú",
        POLICE,
        [
            "Tờ khai thay đổi thông tin cư trú (CT01)",
            "Giấy tờ chứng minh chỗ ở hợp pháp",
        ],
        3,
        15_000,
        true,
    ),
    procedure!(
        "dang-ky-ho-kinh-doanh",
        "Đăng ký thành lập hộ kinh doanh",
        "Business household registration",
        "Đăng ký kinh doanh",
        CITY,
        [
            "Giấy đề nghị đăng ký hộ kinh doanh",
            "Bản sao giấy tờ pháp lý của chủ hộ",
            "Biên bản họp thành viên hộ gia đình (nếu có)",
        ],
        3,
        100_000,
        true,
    ),
    procedure!(
        "thay-doi-ho-kinh-doanh",
        "Đăng ký thay đổi nội dung hộ kinh doanh",
        "Changes to a business household",
        "Đăng ký kinh doanh",
        CITY,
        [
            "Thông báo thay đổi nội dung đăng ký hộ kinh doanh",
            "Giấy chứng nhận đăng ký hộ kinh doanh (bản gốc)",
        ],
        3,
        50_000,
        true,
    ),
    procedure!(
        "giay-phep-xay-dung-nha-o",
        "Cấp giấy phép xây dựng nhà ở riêng lẻ",
        "Construction permit for a private house",
        "Xây dựng",
        CITY,
        [
            "Đơn đề nghị cấp giấy phép xây dựng",
            "Giấy tờ về quyền sử dụng đất",
            "Bản vẽ thiết kế xây dựng (2 bộ)",
        ],
        15,
        75_000,
        false,
    ),
    procedure!(
        "giay-phep-sua-chua-nha",
        "Cấp giấy phép sửa chữa, cải tạo nhà ở",
        "Permit to repair or renovate a house",
        "Xây dựng",
        CITY,
        [
            "Đơn đề nghị cấp giấy phép sửa chữa, cải tạo",
            "Ảnh chụp hiện trạng công trình",
            "Bản vẽ cải tạo",
        ],
        15,
        75_000,
        false,
    ),
    procedure!(
        "giay-phep-xay-dung-vung-di-san",
        "Thỏa thuận xây dựng trong khu vực bảo vệ di tích",
        "Building approval inside the heritage zone",
        "Xây dựng",
        CONSTRUCTION,
        [
            "Đơn đề nghị",
            "Bản vẽ thiết kế",
            "Ý kiến của Trung tâm Bảo tồn Di tích Cố đô Huế",
        ],
        20,
        150_000,
        false,
    ),
    procedure!(
        "ly-lich-tu-phap",
        "Cấp Phiếu lý lịch tư pháp",
        "Criminal record certificate",
        "Lý lịch tư pháp",
        PROVINCE_JUSTICE,
        ["Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", "Bản chụp CCCD"],
        10,
        200_000,
        true,
    ),
    procedure!(
        "chung-thuc-ban-sao",
        "Chứng thực bản sao từ bản chính",
        "Certified copies of originals",
        "Chứng thực",
        WARD,
        ["Bản chính giấy tờ", "Bản sao cần chứng thực"],
        1,
        2_000,
        false,
    ),
    procedure!(
        "chung-thuc-chu-ky",
        "Chứng thực chữ ký",
        "Signature authentication",
        "Chứng thực",
        WARD,
        ["Giấy tờ cần chứng thực chữ ký", "CCCD của người yêu cầu"],
        1,
        10_000,
        false,
    ),
    procedure!(
        "tro-cap-xa-hoi",
        "Trợ cấp xã hội hằng tháng",
        "Monthly social allowance",
        "Bảo trợ xã hội",
        WARD,
        [
            "Tờ khai đề nghị trợ giúp xã hội",
            "Giấy tờ chứng minh đối tượng",
        ],
        20,
        0,
        true,
    ),
    procedure!(
        "cap-doi-gplx",
        "Cấp đổi giấy phép lái xe",
        "Renewing a driving licence",
        "Giao thông",
        "Sở Giao thông vận tải",
        [
            "Đơn đề nghị đổi giấy phép lái xe",
            "Giấy khám sức khỏe",
            "Giấy phép lái xe cũ",
        ],
        5,
        135_000,
        true,
    ),
    procedure!(
        "dang-ky-xe-may",
        "Đăng ký xe mô tô, xe gắn máy",
        "Motorbike registration",
        "Giao thông",
        POLICE,
        [
            "Giấy khai đăng ký xe",
            "Chứng từ nguồn gốc xe",
            "Chứng từ lệ phí trước bạ",
        ],
        2,
        150_000,
        false,
    ),
    procedure!(
        "giay-phep-kinh-doanh-ruou",
        "Cấp giấy phép bán lẻ rượu",
        "Licence to sell alcohol at retail",
        "Thương mại",
        CITY,
        [
            "Đơn đề nghị cấp giấy phép",
            "Giấy chứng nhận đăng ký hộ kinh doanh",
            "Hợp đồng mua bán với nhà cung cấp",
        ],
        10,
        1_200_000,
        true,
    ),
    procedure!(
        "an-toan-thuc-pham",
        "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
        "Food safety certificate",
        "An toàn thực phẩm",
        "Chi cục An toàn vệ sinh thực phẩm",
        [
            "Đơn đề nghị",
            "Bản thuyết minh cơ sở vật chất",
            "Giấy xác nhận đủ sức khỏe của chủ cơ sở",
        ],
        15,
        500_000,
        false,
    ),
    procedure!(
        "cap-so-do",
        "Đăng ký biến động đất đai (sang tên sổ đỏ)",
        "Registering a land transfer",
        "Đất đai",
        "Văn phòng đăng ký đất đai",
        [
            "Đơn đăng ký biến động",
            "Hợp đồng chuyển nhượng có công chứng",
            "Giấy chứng nhận quyền sử dụng đất",
        ],
        10,
        100_000,
        false,
    ),
];

/// The procedure with this id.
pub fn find(id: &str) -> Option<&'static Procedure> {
    PROCEDURES.iter().find(|p| p.id == id)
}
