//! The one catalogue of what audit records say: each sentence a stable code
//! with its Vietnamese and English text, `{name}` marking a parameter. The
//! host writes a code and parameters; the English rendering is the record's
//! `detail`, and the console says it in the operator's language.

use crate::localized::{Localized, Text};
pub use crate::store::AuditMessage;

/// One sentence of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Sentence {
    /// Stable: stored in records, never renamed.
    pub code: &'static str,
    pub text: Text,
}

impl Sentence {
    /// This sentence with no parameter yet (add them with [`AuditMessage::with`]).
    pub fn message(&self) -> AuditMessage {
        AuditMessage {
            code: self.code.to_string(),
            params: Default::default(),
        }
    }

    /// This sentence with the parameter `name` set to `value`.
    pub fn with(&self, name: &str, value: impl std::fmt::Display) -> AuditMessage {
        self.message().with(name, value)
    }
}

const fn sentence(code: &'static str, vi: &'static str, en: &'static str) -> Sentence {
    Sentence {
        code,
        text: Text::new(vi, en),
    }
}

// Consent.
pub const CONSENT_GIVEN: Sentence = sentence(
    "consent.given",
    "Công dân đồng ý, cho mục đích: {purpose}",
    "consented for the purpose: {purpose}",
);
pub const CONSENT_REVOKED: Sentence = sentence(
    "consent.revoked",
    "Công dân đã rút lại sự đồng ý này",
    "the citizen revoked this consent",
);
pub const SIGNED_IN: Sentence = sentence(
    "sign-in",
    "Đăng nhập qua nhà cung cấp định danh {provider}",
    "signed in through the {provider} provider",
);
pub const SIGNED_IN_OIDC: Sentence = sentence(
    "sign-in.oidc",
    "Đăng nhập qua nhà cung cấp OpenID {issuer}",
    "signed in through the OpenID provider {issuer}",
);
pub const SIGN_IN_REFUSED: Sentence = sentence(
    "sign-in.refused",
    "Từ chối đăng nhập qua {issuer} ({code}): {reason}",
    "sign-in through {issuer} refused ({code}): {reason}",
);

pub const SIGNED_OUT_EVERYWHERE: Sentence = sentence(
    "citizen.signed-out-everywhere",
    "Một công dân đã đăng xuất trên mọi thiết bị: {sessions} phiên và {frames} khung ứng dụng đã kết thúc",
    "a citizen signed out everywhere: {sessions} sessions and {frames} app frames ended",
);
pub const CITIZEN_DATA_ERASED: Sentence = sentence(
    "citizen-data.erased",
    "Công dân đã xoá dữ liệu của mình: {sessions} phiên, {consents} sự đồng ý, {messages} tin nhắn, {keys} khoá trong {apps} ứng dụng",
    "a citizen erased their data: {sessions} sessions, {consents} consents, {messages} messages, {keys} keys in {apps} apps",
);
pub const CITIZEN_DATA_ERASING: Sentence = sentence(
    "citizen-data.erasing",
    "Công dân đã xoá dữ liệu của mình: {sessions} phiên, {consents} sự đồng ý, {messages} tin nhắn; dữ liệu trong các ứng dụng chưa xoá được vì kho dữ liệu không phản hồi, máy chủ sẽ xoá nốt",
    "a citizen erased their data: {sessions} sessions, {consents} consents, {messages} messages; their storage in apps could not be erased yet (the store did not answer), the host finishes it",
);
pub const CITIZEN_DATA_ERASURE_FINISHED: Sentence = sentence(
    "citizen-data.erasure-finished",
    "Máy chủ đã xoá nốt dữ liệu của một công dân trong các ứng dụng sau khi việc xoá bị gián đoạn: {keys} khoá trong {apps} ứng dụng",
    "the host finished an interrupted erasure of a citizen's data in apps: {keys} keys in {apps} apps",
);

// Operations.
pub const BACKUP_TAKEN: Sentence = sentence(
    "backup.taken",
    "Sao lưu: {bytes} byte, {entries} mục trong {trees} cây, sha256 {sha256}",
    "backup taken: {bytes} bytes, {entries} entries in {trees} trees, body sha256 {sha256}",
);

// Operator tokens.
pub const OPERATOR_TOKEN_ISSUED: Sentence = sentence(
    "operator-token.issued",
    "Cấp mã điều hành `{id}` cho {name}",
    "operator token issued `{id}` to {name}",
);
pub const OPERATOR_TOKEN_REVOKED: Sentence = sentence(
    "operator-token.revoked",
    "Thu hồi mã điều hành `{id}` của {name}",
    "operator token revoked `{id}` of {name}",
);

// Publishers.
pub const PUBLISHER_REGISTERED_WITH_KEY: Sentence = sentence(
    "publisher.registered-with-key",
    "Nhà phát hành `{publisher}`: đã đăng ký, kèm một khóa API",
    "publisher `{publisher}`: registered, with an API key",
);
pub const PUBLISHER_REGISTERED: Sentence = sentence(
    "publisher.registered",
    "Nhà phát hành `{publisher}`: đã đăng ký, chưa có khóa API",
    "publisher `{publisher}`: registered, without an API key",
);
pub const PUBLISHER_API_KEY_ISSUED: Sentence = sentence(
    "publisher.api-key-issued",
    "Nhà phát hành `{publisher}`: đã cấp một khóa API",
    "publisher `{publisher}`: issued an API key",
);
pub const PUBLISHER_API_KEY_REVOKED: Sentence = sentence(
    "publisher.api-key-revoked",
    "Nhà phát hành `{publisher}`: đã thu hồi một khóa API",
    "publisher `{publisher}`: revoked an API key",
);
pub const PUBLISHER_SIGNING_KEY_ADDED: Sentence = sentence(
    "publisher.signing-key-added",
    "Nhà phát hành `{publisher}`: đã thêm một khóa ký",
    "publisher `{publisher}`: added a signing key",
);
pub const PUBLISHER_SIGNING_KEY_REVOKED: Sentence = sentence(
    "publisher.signing-key-revoked",
    "Nhà phát hành `{publisher}`: đã thu hồi một khóa ký",
    "publisher `{publisher}`: revoked a signing key",
);

// Apps and versions.
pub const INSTALLED: Sentence = sentence("install", "Cài đặt từ {file}", "installed from {file}");
pub const GRANTED: Sentence = sentence("grant", "Cấp quyền `{capability}`", "grant `{capability}`");
pub const REVOKED: Sentence = sentence(
    "revoke",
    "Thu hồi quyền `{capability}`",
    "revoke `{capability}`",
);
pub const UPLOADED: Sentence = sentence(
    "upload",
    "Đã tải lên để duyệt, thành phần sha256 {sha256}",
    "uploaded for review, component sha256 {sha256}",
);
pub const APPROVED: Sentence =
    sentence("approve", "Đã duyệt để triển khai", "approved for rollout");
pub const REJECTED: Sentence = sentence("reject", "Bị từ chối: {reason}", "rejected: {reason}");
pub const WITHDRAWN: Sentence = sentence(
    "withdraw",
    "Nhà phát hành đã rút lại",
    "withdrawn by its publisher",
);
pub const LIVE_FOR_EVERYONE: Sentence = sentence(
    "rollout.everyone",
    "Đang chạy cho mọi người",
    "live for everyone",
);
pub const CANARY: Sentence = sentence(
    "rollout.canary",
    "Chạy thử (canary) cho {percent}% người dùng",
    "canary for {percent}% of callers",
);
pub const ROLLED_BACK: Sentence = sentence(
    "rollback",
    "Đã quay lại; phiên bản đang chạy: {live}",
    "rolled back; live: {live}",
);
pub const ROLLED_BACK_TO_NONE: Sentence = sentence(
    "rollback.none",
    "Đã quay lại; không còn phiên bản nào đang chạy",
    "rolled back; live: none",
);
pub const SUSPENDED: Sentence = sentence("suspend", "Tạm ngừng: {reason}", "suspended: {reason}");
pub const RESUMED: Sentence = sentence("resume", "Đã cho hoạt động lại", "resumed");

// Refused host calls.
pub const DENIED_NOT_GRANTED: Sentence = sentence(
    "denial.not-granted",
    "Gọi máy chủ khi chưa được cấp quyền này",
    "host call without the capability",
);
pub const DENIED_NO_CONSENT: Sentence = sentence(
    "denial.no-consent",
    "Công dân chưa đồng ý",
    "the citizen has not consented",
);
pub const DENIED_ORIGIN: Sentence = sentence(
    "denial.origin-not-granted",
    "Gọi ra ngoài tới một địa chỉ chưa được cấp quyền",
    "outbound request to an origin the app was not granted",
);
pub const DENIED_OWN_LISTENER: Sentence = sentence(
    "denial.own-listener",
    "`{host}` trỏ tới {ip}, cổng nghe của chính máy chủ",
    "`{host}` resolves to {ip}, the host's own listener",
);
pub const DENIED_ADDRESS: Sentence = sentence(
    "denial.forbidden-address",
    "`{host}` trỏ tới {ip}, thuộc dải bị cấm ({range})",
    "`{host}` resolves to {ip}, {range}",
);
pub const DENIED_AGAIN: Sentence = sentence(
    "denial.repeated",
    "Bị từ chối thêm {count} lần trong yêu cầu này",
    "refused {count} more times in this request",
);

// Payments.
pub const PAYMENT_CREATED: Sentence = sentence(
    "payment.created",
    "{intent} {amount}: {description}",
    "{intent} {amount}: {description}",
);
pub const PAID_WITH: Sentence = sentence(
    "payment.paid-with",
    "{intent} {amount}: đã trả bằng {method}",
    "{intent} {amount}: paid with {method}",
);
pub const PAID_THROUGH: Sentence = sentence(
    "payment.paid-through",
    "{intent} {amount}: đã trả qua {provider}, mã {reference}",
    "{intent} {amount}: paid through {provider}, ref {reference}",
);
pub const PAYMENT_DECLINED: Sentence = sentence(
    "payment.declined",
    "{intent} {amount}: công dân từ chối",
    "{intent} {amount}: declined",
);
pub const PAYMENT_REFUNDED: Sentence = sentence(
    "payment.refunded",
    "{intent} {amount}: đã hoàn tiền, tổng cộng {refunded}",
    "{intent} {amount}: refunded, {refunded} in all",
);
pub const WALLET_TOPPED_UP: Sentence = sentence(
    "wallet.top-up",
    "Nạp {amount} vào {wallet}",
    "{wallet} +{amount}",
);
pub const WALLET_TOP_UP_REFUSED: Sentence = sentence(
    "wallet.top-up-refused",
    "Từ chối nạp {amount} VND: máy chủ không ở chế độ phát triển",
    "a top-up of {amount} VND refused: the host is not in development mode",
);
pub const WEBHOOK_REFUSED: Sentence = sentence(
    "webhook.refused",
    "Từ chối webhook: {reason}",
    "webhook refused: {reason}",
);
pub const WEBHOOK_REPLAYED: Sentence = sentence(
    "webhook.replayed",
    "Webhook gửi lại {reference}, bị bỏ qua",
    "replayed {reference}",
);
pub const PAYMENT_UNAPPLIED: Sentence = sentence(
    "payment.unapplied",
    "Nhà cung cấp báo đã thu {amount} ₫ ({reference}) cho {intent} đang ở trạng thái {status}: cần hoàn tiền",
    "the provider took {amount} ₫ ({reference}) for {intent}, which is {status}: to be refunded",
);
pub const PAYMENT_RETURNING: Sentence = sentence(
    "payment.returning",
    "Nhà cung cấp báo đã thu {amount} ₫ ({reference}) cho {intent} đang ở trạng thái {status}: đã yêu cầu nhà cung cấp hoàn lại",
    "the provider took {amount} ₫ ({reference}) for {intent}, which is {status}: the provider is asked to pay it back",
);
pub const PAYMENT_OTHER_AMOUNT: Sentence = sentence(
    "payment.other-amount",
    "Nhà cung cấp báo đã thu {amount} ₫ ({reference}) cho {intent}, khoản cần thu là {asked} ₫: cần hoàn tiền",
    "the provider took {amount} ₫ ({reference}) for {intent}, which asks {asked} ₫: to be refunded",
);
pub const PAYMENT_OTHER_AMOUNT_RETURNING: Sentence = sentence(
    "payment.other-amount-returning",
    "Nhà cung cấp báo đã thu {amount} ₫ ({reference}) cho {intent}, khoản cần thu là {asked} ₫: đã yêu cầu nhà cung cấp hoàn lại",
    "the provider took {amount} ₫ ({reference}) for {intent}, which asks {asked} ₫: the provider is asked to pay it back",
);
pub const PAYMENT_NO_INTENT: Sentence = sentence(
    "payment.no-intent",
    "Nhà cung cấp báo đã thu {amount} ₫ ({reference}) cho {intent}, khoản thanh toán không tồn tại: cần hoàn tiền",
    "the provider took {amount} ₫ ({reference}) for {intent}, which does not exist: to be refunded",
);
pub const HOOK_ABANDONED: Sentence = sentence(
    "payment-hook.abandoned",
    "{intent} không gửi được sau {attempts} lần thử",
    "{intent} not delivered after {attempts} attempts",
);
pub const REFUND_SENT: Sentence = sentence(
    "payment-refund.sent",
    "{provider} đã nhận lệnh hoàn {amount} VND ({reference}) của {intent}",
    "{provider} took the refund of {amount} VND ({reference}) of {intent}",
);
pub const REFUND_SETTLED: Sentence = sentence(
    "payment-refund.settled",
    "Lệnh hoàn {amount} VND ({reference}) của {intent} được ghi nhận là đã hoàn thủ công thay cho {provider}",
    "the refund of {amount} VND ({reference}) of {intent} is recorded as paid back by hand instead of through {provider}",
);
pub const REFUND_PAID_TWICE: Sentence = sentence(
    "payment-refund.paid-twice",
    "{provider} đã nhận lệnh hoàn {amount} VND ({reference}) của {intent} mà {operator} đã ghi nhận là hoàn thủ công: công dân được hoàn hai lần, cần thu lại một lần",
    "{provider} took the refund of {amount} VND ({reference}) of {intent} that {operator} recorded as paid back by hand: the citizen was paid back twice, recover one of them",
);
pub const REFUND_LOST: Sentence = sentence(
    "payment-refund.lost",
    "Lệnh hoàn {amount} VND ({reference}) của {intent} qua {provider} không còn bản ghi để gửi: hãy hoàn trả thủ công",
    "the refund of {amount} VND ({reference}) of {intent} through {provider} has no record left to send: pay it back by hand",
);
pub const REFUND_LATE: Sentence = sentence(
    "payment-refund.late",
    "{provider} chưa nhận lệnh hoàn {amount} VND ({reference}) của {intent} sau {attempts} lần gửi; vẫn tiếp tục gửi",
    "{provider} has not taken the refund of {amount} VND ({reference}) of {intent} after {attempts} attempts; still sending",
);

/// Every sentence, once.
pub const CATALOGUE: &[Sentence] = &[
    CONSENT_GIVEN,
    CONSENT_REVOKED,
    SIGNED_IN,
    SIGNED_IN_OIDC,
    SIGN_IN_REFUSED,
    BACKUP_TAKEN,
    OPERATOR_TOKEN_ISSUED,
    OPERATOR_TOKEN_REVOKED,
    PUBLISHER_REGISTERED_WITH_KEY,
    PUBLISHER_REGISTERED,
    PUBLISHER_API_KEY_ISSUED,
    PUBLISHER_API_KEY_REVOKED,
    PUBLISHER_SIGNING_KEY_ADDED,
    PUBLISHER_SIGNING_KEY_REVOKED,
    INSTALLED,
    GRANTED,
    REVOKED,
    UPLOADED,
    APPROVED,
    REJECTED,
    WITHDRAWN,
    LIVE_FOR_EVERYONE,
    CANARY,
    ROLLED_BACK,
    ROLLED_BACK_TO_NONE,
    SUSPENDED,
    RESUMED,
    DENIED_NOT_GRANTED,
    DENIED_NO_CONSENT,
    DENIED_ORIGIN,
    DENIED_OWN_LISTENER,
    DENIED_ADDRESS,
    DENIED_AGAIN,
    PAYMENT_CREATED,
    PAID_WITH,
    PAID_THROUGH,
    PAYMENT_DECLINED,
    PAYMENT_REFUNDED,
    WALLET_TOPPED_UP,
    WALLET_TOP_UP_REFUSED,
    WEBHOOK_REFUSED,
    WEBHOOK_REPLAYED,
    PAYMENT_UNAPPLIED,
    PAYMENT_RETURNING,
    PAYMENT_OTHER_AMOUNT,
    PAYMENT_OTHER_AMOUNT_RETURNING,
    PAYMENT_NO_INTENT,
    HOOK_ABANDONED,
    REFUND_SENT,
    REFUND_SETTLED,
    REFUND_PAID_TWICE,
    REFUND_LATE,
    REFUND_LOST,
    CITIZEN_DATA_ERASED,
    CITIZEN_DATA_ERASING,
    CITIZEN_DATA_ERASURE_FINISHED,
    SIGNED_OUT_EVERYWHERE,
];

/// The text of `code` in both languages, if the catalogue has it.
pub fn text(code: &str) -> Option<Localized> {
    CATALOGUE
        .iter()
        .find(|s| s.code == code)
        .map(|s| s.text.into())
}

/// `message` in `locale` (`en`, else Vietnamese), its parameters filled in;
/// `None` for a code the catalogue does not have. A parameter the message
/// lacks stays `{name}`.
pub fn render(message: &AuditMessage, locale: &str) -> Option<String> {
    let sentence = CATALOGUE.iter().find(|s| s.code == message.code)?;
    Some(fill(sentence.text.in_locale(locale), message))
}

fn fill(template: &str, message: &AuditMessage) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match message.params.get(name) {
                    Some(value) => out.push_str(value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `{name}`s of a template.
    fn placeholders(template: &str) -> BTreeSet<&str> {
        template
            .split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_sentence_has_both_languages_with_the_same_parameters() {
        let mut codes = BTreeSet::new();
        for sentence in CATALOGUE {
            assert!(codes.insert(sentence.code), "`{}` twice", sentence.code);
            let Text { vi, en } = sentence.text;
            assert!(
                !vi.trim().is_empty() && !en.trim().is_empty(),
                "`{}` misses a language",
                sentence.code
            );
            assert_eq!(
                placeholders(vi),
                placeholders(en),
                "`{}` names other parameters in vi and en",
                sentence.code
            );
            assert!(
                placeholders(en)
                    .iter()
                    .all(|p| p.starts_with(|c: char| c.is_ascii_lowercase())
                        && p.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
                "`{}`: a parameter is a lowercase name",
                sentence.code
            );
        }
    }

    #[test]
    fn a_message_is_said_in_either_language_with_its_parameters() {
        let message = ROLLED_BACK.with("live", "1.2.0");
        assert_eq!(render(&message, "en").unwrap(), "rolled back; live: 1.2.0");
        assert_eq!(
            render(&message, "vi").unwrap(),
            "Đã quay lại; phiên bản đang chạy: 1.2.0"
        );
        // Values are data, never templates: braces in them stay as they are.
        let odd = SUSPENDED.with("reason", "{live} </td>");
        assert_eq!(render(&odd, "en").unwrap(), "suspended: {live} </td>");
        // A missing parameter shows its name; an unknown code renders nothing.
        assert_eq!(
            render(&ROLLED_BACK.message(), "en").unwrap(),
            "rolled back; live: {live}"
        );
        let unknown = AuditMessage {
            code: "no.such".into(),
            params: Default::default(),
        };
        assert_eq!(render(&unknown, "vi"), None);
        assert_eq!(text("rollback").unwrap().en, "rolled back; live: {live}");
    }
}
