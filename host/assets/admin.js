// The operator console at /admin: review queue, apps (rollout, rollback,
// suspension, grants, metrics) and the audit log, over the operator API
// (/api/v1/operator/...). Plain JavaScript, no build step, no framework; the
// page's CSP allows only this file and admin.css, so nothing here writes
// inline styles or HTML strings — every node is built with `h`/`svg`.
'use strict';

(() => {
  const TOKEN_KEY = 'citadel.operator-token';
  const LANG_KEY = 'citadel.console-lang';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const API = '/api/v1/operator';

  // ---------------------------------------------------------------- words

  const DICT = {
    vi: {
      title: 'Bảng điều hành',
      skip: 'Bỏ qua, đến nội dung chính',
      'nav.label': 'Các mục của bảng điều hành',
      'nav.reviews': 'Chờ duyệt',
      'nav.apps': 'Ứng dụng',
      'nav.audit': 'Nhật ký',
      'lang.other': 'English',
      'lang.otherCode': 'en',
      signOut: 'Đăng xuất',
      loading: 'Đang tải…',
      yes: 'Có',
      no: 'Không',
      none: 'Không có',
      dash: '—',
      'signin.title': 'Đăng nhập bảng điều hành',
      'signin.intro': 'Dành cho người vận hành của thành phố: duyệt phiên bản mới của các ứng dụng con, triển khai, quay lại, tạm ngừng, cấp quyền và đọc nhật ký kiểm toán.',
      'signin.token': 'Mã truy cập của người vận hành',
      'signin.help': 'Mã nằm trong tệp data/operator-token hoặc biến môi trường CITADEL_OPERATOR_TOKEN của máy chủ. Mã chỉ được giữ trong thẻ trình duyệt này và mất khi đóng thẻ.',
      'signin.submit': 'Đăng nhập',
      'signin.empty': 'Hãy nhập mã truy cập.',
      'signin.done': 'Đã đăng nhập.',
      'signout.done': 'Đã đăng xuất.',
      'session.expired': 'Phiên đăng nhập không còn hiệu lực; hãy đăng nhập lại.',
      'error.network': 'Không kết nối được máy chủ. Hãy kiểm tra mạng rồi thử lại.',
      'error.api': 'Máy chủ từ chối ({code}): {message}',
      'error.requestId': 'Mã yêu cầu: {id}',
      'error.view': 'Không tải được trang này.',
      'error.noApp': 'Không có ứng dụng “{app}”.',
      'error.notFound': 'Không có trang này.',
      'reviews.title': 'Phiên bản chờ duyệt',
      'reviews.intro': 'Mỗi phiên bản mới được so với phiên bản đang chạy: quyền thêm mới và quyền bỏ đi được đánh dấu. Duyệt kèm các quyền được cấp, hoặc từ chối kèm lý do gửi nhà phát hành.',
      'reviews.empty': 'Không có phiên bản nào chờ duyệt.',
      'review.heading': '{name} ({app}) {version}',
      'review.meta': 'Nhà phát hành {publisher} · tải lên lúc {at}',
      'review.live': 'Phiên bản đang chạy: {version}.',
      'review.new': 'Ứng dụng mới: chưa có phiên bản nào đang chạy.',
      'review.caption': 'Quyền yêu cầu: phiên bản đang chạy so với {version}',
      'review.col.capability': 'Quyền',
      'review.col.summary': 'Cho phép',
      'review.col.live': 'Đang chạy ({version})',
      'review.col.liveNone': 'Đang chạy',
      'review.col.new': 'Bản mới ({version})',
      'review.col.change': 'Thay đổi',
      'change.added': 'Thêm mới',
      'change.removed': 'Bỏ đi',
      'change.same': 'Không đổi',
      'review.personal': 'dữ liệu cá nhân, cần công dân đồng ý',
      'review.grants': 'Quyền cấp khi duyệt',
      'review.grantsHelp': 'Chỉ cấp được những quyền phiên bản này yêu cầu. Quyền được cấp là của riêng phiên bản này: phiên bản đang phục vụ giữ quyền của nó cho đến khi phiên bản này được triển khai.',
      'review.noRequests': 'Phiên bản này không yêu cầu quyền nào.',
      'review.approve': 'Duyệt và cấp quyền',
      'review.reason': 'Lý do từ chối (gửi cho nhà phát hành)',
      'review.reasonEmpty': 'Hãy ghi lý do từ chối.',
      'review.reject': 'Từ chối',
      'review.approved': 'Đã duyệt {app} {version}, cấp quyền: {grants}. Bước tiếp theo: triển khai.',
      'review.rejected': 'Đã từ chối {app} {version}.',
      'apps.title': 'Ứng dụng',
      'apps.intro': 'Mọi ứng dụng trên máy chủ, với phiên bản đang chạy, bản thử và quyền đã cấp. Chọn một ứng dụng để triển khai, quay lại, tạm ngừng, sửa quyền và xem số liệu.',
      'apps.caption': 'Mọi ứng dụng',
      'apps.col.app': 'Ứng dụng',
      'apps.col.live': 'Đang chạy',
      'apps.col.canary': 'Bản thử',
      'apps.col.state': 'Trạng thái',
      'apps.col.grants': 'Quyền đã cấp',
      'apps.col.pending': 'Chờ duyệt',
      'apps.empty': 'Chưa có ứng dụng nào.',
      'canary.share': '{version} cho {percent} % người dùng',
      'state.active': 'Đang hoạt động',
      'state.suspended': 'Tạm ngừng: {reason}',
      'app.back': 'Mọi ứng dụng',
      'app.title': '{name} ({app})',
      'app.facts': 'Tình trạng',
      'app.publisher': 'Nhà phát hành',
      'app.live': 'Phiên bản đang chạy',
      'app.canary': 'Bản thử',
      'app.previous': 'Quay lại được về',
      'app.state': 'Trạng thái',
      'app.granted': 'Quyền đã cấp',
      'rollout.title': 'Triển khai',
      'rollout.version': 'Phiên bản cần triển khai',
      'rollout.percent': 'Tỷ lệ người dùng (%)',
      'rollout.percentHelp': 'Từ 1 đến 100. Mỗi công dân thuộc một nhóm cố định, nên tăng tỷ lệ chỉ thêm người. Để về 0 %, dùng “Quay lại phiên bản trước”.',
      'rollout.submit': 'Triển khai theo tỷ lệ',
      'rollout.complete': 'Hoàn tất (100 %)',
      'rollout.none': 'Không có phiên bản nào đã duyệt đang chờ triển khai.',
      'rollout.badPercent': 'Tỷ lệ phải là số nguyên từ 1 đến 100.',
      'rollout.canaryDone': 'Đang thử {app} {version} với {percent} % người dùng.',
      'rollout.done': '{app} {version} đã chạy cho mọi người dùng.',
      'rollback.title': 'Quay lại',
      'rollback.canary': 'Bản thử {version} sẽ ngừng phục vụ ngay; mọi yêu cầu mới do {live} phục vụ.',
      'rollback.previous': 'Mọi yêu cầu mới sẽ do {previous} phục vụ thay cho {live}.',
      'rollback.nothing': 'Không có phiên bản nào để quay lại.',
      'rollback.submit': 'Quay lại phiên bản trước',
      'rollback.done': 'Đã quay lại: {app} đang chạy {live}.',
      'suspend.title': 'Tạm ngừng',
      'suspend.reason': 'Lý do tạm ngừng (công dân sẽ thấy)',
      'suspend.reasonEmpty': 'Hãy ghi lý do tạm ngừng.',
      'suspend.submit': 'Tạm ngừng ứng dụng',
      'suspend.current': 'Ứng dụng đang tạm ngừng. Lý do: {reason}',
      'suspend.resume': 'Cho hoạt động lại',
      'suspend.done': 'Đã tạm ngừng {app}.',
      'suspend.resumed': '{app} đã hoạt động lại.',
      'grants.title': 'Quyền',
      'grants.legend': 'Quyền đã cấp cho phiên bản {version} (trong số quyền phiên bản này yêu cầu)',
      'grants.help': 'Quyền có hiệu lực = quyền yêu cầu ∩ quyền đã cấp, áp dụng cho các phiên bản đang phục vụ từ lời gọi kế tiếp. Mỗi phiên bản giữ quyền của riêng nó.',
      'grants.stale': 'Đã cấp nhưng phiên bản này không yêu cầu (sẽ bị bỏ khi lưu): {list}',
      'grants.none': 'Phiên bản này không yêu cầu quyền nào.',
      'grants.noServing': 'Chưa có phiên bản nào đang phục vụ, nên chưa sửa được quyền.',
      'grants.submit': 'Lưu quyền',
      'grants.done': 'Đã lưu quyền của {app} {version}: {grants}.',
      'versions.title': 'Các phiên bản',
      'versions.caption': 'Các phiên bản của {app}, mới nhất trước',
      'versions.col.version': 'Phiên bản',
      'versions.col.state': 'Trạng thái',
      'versions.col.requested': 'Quyền yêu cầu',
      'versions.col.granted': 'Quyền đã cấp',
      'versions.col.changed': 'Thay đổi lúc',
      'versions.col.by': 'Bởi',
      'versions.col.reason': 'Lý do',
      'vstate.in-review': 'Chờ duyệt',
      'vstate.approved': 'Đã duyệt',
      'vstate.rejected': 'Bị từ chối',
      'vstate.withdrawn': 'Nhà phát hành đã rút',
      'vstate.canary': 'Đang thử',
      'vstate.live': 'Đang chạy',
      'vstate.retired': 'Đã thay',
      'metrics.title': 'Số liệu',
      'metrics.intro': 'Số liệu của chính máy chủ về ứng dụng này, cộng dồn từ khi máy chủ khởi động.',
      'metrics.refresh': 'Làm mới số liệu',
      'metrics.refreshed': 'Đã làm mới số liệu.',
      'metrics.table': 'Xem dạng bảng',
      'metrics.col.what': 'Mục',
      'metrics.col.value': 'Giá trị',
      'metrics.requests': 'Yêu cầu theo nhóm mã trạng thái',
      'metrics.requestsSummary': '{total} yêu cầu; {errors} lỗi máy chủ (5xx, {rate}).',
      'metrics.noRequests': 'Chưa có yêu cầu nào từ khi máy chủ khởi động.',
      'metrics.errors': 'Lỗi',
      'metrics.errorsSummary': '{n} lỗi: phản hồi 5xx, ứng dụng bị dừng vì lỗi, quá giờ hoặc hết bộ nhớ.',
      'metrics.5xx': 'Phản hồi 5xx',
      'metrics.trap': 'Lỗi (trap)',
      'metrics.timeout': 'Quá giờ',
      'metrics.out_of_memory': 'Hết bộ nhớ',
      'metrics.latency': 'Độ trễ',
      'metrics.latencySummary': 'p99 ≈ {p99}; p50 ≈ {p50}; trung bình {mean} (ước lượng từ các nhóm của biểu đồ).',
      'metrics.noLatency': 'Chưa đo được độ trễ nào.',
      'metrics.bucket': 'Nhóm độ trễ',
      'metrics.count': 'Số yêu cầu',
      'metrics.denials': 'Bị từ chối theo quyền',
      'metrics.denialsSummary': '{n} lời gọi bị từ chối vì thiếu quyền.',
      'metrics.noDenials': 'Chưa có lời gọi nào bị từ chối.',
      'metrics.over': 'trên {value}',
      'audit.title': 'Nhật ký kiểm toán',
      'audit.intro': 'Mọi lần cấp quyền, duyệt, triển khai, quay lại, tạm ngừng, từ chối truy cập và đăng nhập, mới nhất trước.',
      'audit.filters': 'Lọc nhật ký',
      'audit.kind': 'Loại sự kiện',
      'audit.app': 'Ứng dụng',
      'audit.allApps': 'Mọi ứng dụng',
      'audit.capability': 'Quyền',
      'audit.apply': 'Lọc',
      'audit.clear': 'Xoá bộ lọc',
      'audit.results': 'Kết quả',
      'audit.caption': 'Bản ghi nhật ký, mới nhất trước',
      'audit.shown': 'Đang hiện {n} bản ghi.',
      'audit.empty': 'Không có bản ghi nào khớp bộ lọc.',
      'audit.older': 'Cũ hơn',
      'audit.more': 'Đã tải thêm {n} bản ghi cũ hơn.',
      'audit.end': 'Đã đến bản ghi cũ nhất.',
      'audit.col.seq': 'Số',
      'audit.col.at': 'Thời điểm',
      'audit.col.kind': 'Loại',
      'audit.col.actor': 'Người thực hiện',
      'audit.col.app': 'Ứng dụng',
      'audit.col.version': 'Phiên bản',
      'audit.col.capability': 'Quyền',
      'audit.col.detail': 'Chi tiết',
      'kind.upload': 'Tải lên',
      'kind.approve': 'Duyệt',
      'kind.reject': 'Từ chối',
      'kind.withdraw': 'Rút lại',
      'kind.rollout': 'Triển khai',
      'kind.rollback': 'Quay lại',
      'kind.suspend': 'Tạm ngừng',
      'kind.resume': 'Hoạt động lại',
      'kind.grant': 'Cấp quyền',
      'kind.revoke': 'Thu hồi quyền',
      'kind.install': 'Cài đặt',
      'kind.publisher': 'Nhà phát hành',
      'kind.denial': 'Từ chối truy cập',
      'kind.consent': 'Công dân đồng ý',
      'kind.consent-revoked': 'Công dân rút đồng ý',
      'kind.sign-in': 'Đăng nhập',
    },
    en: {
      title: 'Operator console',
      skip: 'Skip to the main content',
      'nav.label': 'Console sections',
      'nav.reviews': 'Reviews',
      'nav.apps': 'Apps',
      'nav.audit': 'Audit log',
      'lang.other': 'Tiếng Việt',
      'lang.otherCode': 'vi',
      signOut: 'Sign out',
      loading: 'Loading…',
      yes: 'Yes',
      no: 'No',
      none: 'None',
      dash: '—',
      'signin.title': 'Sign in to the console',
      'signin.intro': 'For the city’s operators: review new versions of mini-apps, roll them out, roll them back, suspend them, grant capabilities and read the audit log.',
      'signin.token': 'Operator token',
      'signin.help': 'The token is in the host’s data/operator-token file or its CITADEL_OPERATOR_TOKEN variable. It is kept only in this browser tab and forgotten when the tab closes.',
      'signin.submit': 'Sign in',
      'signin.empty': 'Enter the operator token.',
      'signin.done': 'Signed in.',
      'signout.done': 'Signed out.',
      'session.expired': 'The session is no longer valid; sign in again.',
      'error.network': 'The host could not be reached. Check the network and try again.',
      'error.api': 'The host refused ({code}): {message}',
      'error.requestId': 'Request id: {id}',
      'error.view': 'This page could not be loaded.',
      'error.noApp': 'There is no app “{app}”.',
      'error.notFound': 'There is no such page.',
      'reviews.title': 'Review queue',
      'reviews.intro': 'Each new version is compared with the live one: added and removed capabilities are marked. Approve it with the capabilities to grant, or reject it with a reason for the publisher.',
      'reviews.empty': 'No version is waiting for review.',
      'review.heading': '{name} ({app}) {version}',
      'review.meta': 'Publisher {publisher} · uploaded {at}',
      'review.live': 'Live version: {version}.',
      'review.new': 'A new app: no version is live yet.',
      'review.caption': 'Requested capabilities: the live version compared with {version}',
      'review.col.capability': 'Capability',
      'review.col.summary': 'Lets the app',
      'review.col.live': 'Live ({version})',
      'review.col.liveNone': 'Live',
      'review.col.new': 'New ({version})',
      'review.col.change': 'Change',
      'change.added': 'Added',
      'change.removed': 'Removed',
      'change.same': 'Unchanged',
      'review.personal': 'personal data, needs the citizen’s consent',
      'review.grants': 'Capabilities to grant',
      'review.grantsHelp': 'Only what this version requests can be granted. The grants are this version’s own: the version serving now keeps its grants until this one is rolled out.',
      'review.noRequests': 'This version requests no capability.',
      'review.approve': 'Approve with these grants',
      'review.reason': 'Reason for rejecting (sent to the publisher)',
      'review.reasonEmpty': 'Give a reason for rejecting.',
      'review.reject': 'Reject',
      'review.approved': 'Approved {app} {version}, granting: {grants}. Next: roll it out.',
      'review.rejected': 'Rejected {app} {version}.',
      'apps.title': 'Apps',
      'apps.intro': 'Every app on the host with its live version, canary and grants. Open one to roll out, roll back, suspend, edit grants and see its metrics.',
      'apps.caption': 'Every app',
      'apps.col.app': 'App',
      'apps.col.live': 'Live',
      'apps.col.canary': 'Canary',
      'apps.col.state': 'State',
      'apps.col.grants': 'Granted',
      'apps.col.pending': 'In review',
      'apps.empty': 'There is no app yet.',
      'canary.share': '{version} for {percent} % of callers',
      'state.active': 'Active',
      'state.suspended': 'Suspended: {reason}',
      'app.back': 'All apps',
      'app.title': '{name} ({app})',
      'app.facts': 'Status',
      'app.publisher': 'Publisher',
      'app.live': 'Live version',
      'app.canary': 'Canary',
      'app.previous': 'Can roll back to',
      'app.state': 'State',
      'app.granted': 'Granted',
      'rollout.title': 'Rollout',
      'rollout.version': 'Version to roll out',
      'rollout.percent': 'Share of callers (%)',
      'rollout.percentHelp': '1 to 100. Each citizen is in a stable bucket, so raising the share only adds callers. To go back to 0 %, use “Roll back”.',
      'rollout.submit': 'Roll out to this share',
      'rollout.complete': 'Complete (100 %)',
      'rollout.none': 'No approved version is waiting to be rolled out.',
      'rollout.badPercent': 'The share must be a whole number from 1 to 100.',
      'rollout.canaryDone': '{app} {version} is a canary for {percent} % of callers.',
      'rollout.done': '{app} {version} is live for everyone.',
      'rollback.title': 'Roll back',
      'rollback.canary': 'The canary {version} stops serving at once; every new request goes to {live}.',
      'rollback.previous': 'Every new request goes to {previous} instead of {live}.',
      'rollback.nothing': 'There is nothing to roll back to.',
      'rollback.submit': 'Roll back',
      'rollback.done': 'Rolled back: {app} now runs {live}.',
      'suspend.title': 'Suspension',
      'suspend.reason': 'Reason for suspending (citizens see it)',
      'suspend.reasonEmpty': 'Give a reason for suspending.',
      'suspend.submit': 'Suspend the app',
      'suspend.current': 'The app is suspended. Reason: {reason}',
      'suspend.resume': 'Resume the app',
      'suspend.done': 'Suspended {app}.',
      'suspend.resumed': '{app} is running again.',
      'grants.title': 'Grants',
      'grants.legend': 'Granted to version {version} (of what it requests)',
      'grants.help': 'Effective = requested ∩ granted, for the serving versions from the next host call. Each version keeps its own grants.',
      'grants.stale': 'Granted but not requested by this version (dropped on saving): {list}',
      'grants.none': 'This version requests no capability.',
      'grants.noServing': 'No version is serving yet, so grants cannot be edited.',
      'grants.submit': 'Save grants',
      'grants.done': 'Saved the grants of {app} {version}: {grants}.',
      'versions.title': 'Versions',
      'versions.caption': 'Versions of {app}, newest first',
      'versions.col.version': 'Version',
      'versions.col.state': 'State',
      'versions.col.requested': 'Requests',
      'versions.col.granted': 'Granted',
      'versions.col.changed': 'Changed',
      'versions.col.by': 'By',
      'versions.col.reason': 'Reason',
      'vstate.in-review': 'In review',
      'vstate.approved': 'Approved',
      'vstate.rejected': 'Rejected',
      'vstate.withdrawn': 'Withdrawn',
      'vstate.canary': 'Canary',
      'vstate.live': 'Live',
      'vstate.retired': 'Retired',
      'metrics.title': 'Metrics',
      'metrics.intro': 'The host’s own metrics of this app, counted since the host started.',
      'metrics.refresh': 'Refresh metrics',
      'metrics.refreshed': 'Metrics refreshed.',
      'metrics.table': 'Show as a table',
      'metrics.col.what': 'What',
      'metrics.col.value': 'Value',
      'metrics.requests': 'Requests by status class',
      'metrics.requestsSummary': '{total} requests; {errors} server errors (5xx, {rate}).',
      'metrics.noRequests': 'No request since the host started.',
      'metrics.errors': 'Errors',
      'metrics.errorsSummary': '{n} errors: 5xx answers, guests stopped by a trap, a timeout or running out of memory.',
      'metrics.5xx': '5xx answers',
      'metrics.trap': 'Traps',
      'metrics.timeout': 'Timeouts',
      'metrics.out_of_memory': 'Out of memory',
      'metrics.latency': 'Latency',
      'metrics.latencySummary': 'p99 ≈ {p99}; p50 ≈ {p50}; mean {mean} (estimated from the histogram’s buckets).',
      'metrics.noLatency': 'No latency measured yet.',
      'metrics.bucket': 'Latency bucket',
      'metrics.count': 'Requests',
      'metrics.denials': 'Denials by capability',
      'metrics.denialsSummary': '{n} host calls denied for lack of a capability.',
      'metrics.noDenials': 'No host call has been denied.',
      'metrics.over': 'over {value}',
      'audit.title': 'Audit log',
      'audit.intro': 'Every grant, review, rollout, rollback, suspension, denial and sign-in, newest first.',
      'audit.filters': 'Filter the log',
      'audit.kind': 'Kind of event',
      'audit.app': 'App',
      'audit.allApps': 'Every app',
      'audit.capability': 'Capability',
      'audit.apply': 'Filter',
      'audit.clear': 'Clear the filters',
      'audit.results': 'Results',
      'audit.caption': 'Audit records, newest first',
      'audit.shown': 'Showing {n} records.',
      'audit.empty': 'No record matches the filters.',
      'audit.older': 'Older',
      'audit.more': 'Loaded {n} older records.',
      'audit.end': 'This is the oldest record.',
      'audit.col.seq': 'No.',
      'audit.col.at': 'When',
      'audit.col.kind': 'Kind',
      'audit.col.actor': 'Actor',
      'audit.col.app': 'App',
      'audit.col.version': 'Version',
      'audit.col.capability': 'Capability',
      'audit.col.detail': 'Detail',
      'kind.upload': 'Upload',
      'kind.approve': 'Approval',
      'kind.reject': 'Rejection',
      'kind.withdraw': 'Withdrawal',
      'kind.rollout': 'Rollout',
      'kind.rollback': 'Rollback',
      'kind.suspend': 'Suspension',
      'kind.resume': 'Resumption',
      'kind.grant': 'Grant',
      'kind.revoke': 'Revocation',
      'kind.install': 'Install',
      'kind.publisher': 'Publisher',
      'kind.denial': 'Denial',
      'kind.consent': 'Consent',
      'kind.consent-revoked': 'Consent revoked',
      'kind.sign-in': 'Sign-in',
    },
  };

  /** What each capability lets an app do, in Vietnamese (the host's own
   *  summaries, in English, serve English and any capability not listed). */
  /** Audit kinds offered in the filter (others can still be typed). */
  const KINDS = ['upload', 'approve', 'reject', 'withdraw', 'rollout', 'rollback', 'suspend', 'resume',
    'grant', 'revoke', 'install', 'publisher', 'denial', 'consent', 'consent-revoked', 'sign-in'];

  function storageGet(storage, key) {
    try { return storage.getItem(key); } catch (_) { return null; }
  }
  function storageSet(storage, key, value) {
    try {
      if (value === null) storage.removeItem(key); else storage.setItem(key, value);
    } catch (_) { /* private mode: keep it in memory only */ }
  }

  let lang = storageGet(localStorage, LANG_KEY) === 'en' ? 'en' : 'vi';
  let token = storageGet(sessionStorage, TOKEN_KEY);

  /** The text of `key` in the current language, with `{name}`s filled in. */
  function t(key, vars) {
    const text = DICT[lang][key] ?? DICT.vi[key] ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`)) : text;
  }

  function locale() { return lang === 'vi' ? 'vi-VN' : 'en-GB'; }
  function formatNumber(n, digits = 0) {
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(n);
  }
  function formatPercent(ratio) {
    return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 1 }).format(ratio);
  }
  /** dd/mm/yyyy HH:MM:SS in Huế's time, whatever the operator's machine says. */
  const HUE_TIME = new Intl.DateTimeFormat('vi-VN', {
    timeZone: 'Asia/Ho_Chi_Minh', day: '2-digit', month: '2-digit', year: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  function formatTime(ms) {
    const p = Object.fromEntries(HUE_TIME.formatToParts(new Date(ms)).map((part) => [part.type, part.value]));
    return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}:${p.second}`;
  }
  function formatSeconds(seconds) {
    if (seconds < 0.001) return `${formatNumber(seconds * 1e6, 0)} µs`;
    if (seconds < 1) return `${formatNumber(seconds * 1000, seconds < 0.01 ? 2 : 1)} ms`;
    return `${formatNumber(seconds, 2)} s`;
  }
  function list(items) { return items.length ? items.join(', ') : t('none'); }
  function appName(app) { return (app.name && app.name[lang]) || app.id; }

  // ---------------------------------------------------------------- DOM

  function append(el, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(el, child);
      else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function setAttributes(el, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.setAttribute('class', value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }

  /** An HTML element: `h('p', { class: 'x' }, 'text', child…)`. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttributes(el, attrs);
    append(el, children);
    return el;
  }

  /** An SVG element, as `h`. */
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttributes(el, attrs);
    append(el, children);
    return el;
  }

  let ids = 0;
  function uid(prefix) { ids += 1; return `${prefix}-${ids}`; }

  const main = document.getElementById('main');
  const statusBox = document.getElementById('status');
  const alertBox = document.getElementById('alert');

  function clearMessages() {
    statusBox.replaceChildren();
    alertBox.replaceChildren();
  }

  /** Tell the operator (and screen readers, politely) what just happened. */
  function announce(text) {
    alertBox.replaceChildren();
    statusBox.replaceChildren(h('p', null, text));
  }

  /** Show an error (an ApiFailure or any Error) in the alert region. */
  function showError(error) {
    statusBox.replaceChildren();
    const lines = [h('p', null, error.display ? error.display() : String(error.message || error))];
    if (error.requestId) lines.push(h('p', { class: 'small' }, t('error.requestId', { id: error.requestId })));
    alertBox.replaceChildren(...lines);
  }

  /** An inline error for a field, linked to it for screen readers. */
  function fieldError(input, message) {
    const id = `${input.id}-error`;
    let box = document.getElementById(id);
    if (!box) {
      box = h('p', { class: 'field-error', id });
      input.insertAdjacentElement('afterend', box);
    }
    box.textContent = message;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
    input.focus();
    showError(new Error(message));
  }

  function clearFieldError(input) {
    const box = document.getElementById(`${input.id}-error`);
    if (box) box.remove();
    input.removeAttribute('aria-invalid');
    const describedBy = (input.getAttribute('aria-describedby') || '').split(' ')
      .filter((id) => id && id !== `${input.id}-error`).join(' ');
    if (describedBy) input.setAttribute('aria-describedby', describedBy); else input.removeAttribute('aria-describedby');
  }

  // ---------------------------------------------------------------- API

  class ApiFailure extends Error {
    constructor(code, message, status, requestId) {
      super(message);
      this.code = code;
      this.status = status;
      this.requestId = requestId;
    }
    display() {
      if (this.code === 'network') return t('error.network');
      return t('error.api', { code: this.code, message: this.message });
    }
  }

  /** Call the operator API; JSON in, JSON out; API errors become ApiFailure. */
  async function api(method, path, body, credential = token) {
    const headers = { Accept: 'application/json' };
    if (credential) headers.Authorization = `Bearer ${credential}`;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiFailure('network', t('error.network'));
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : {};
      throw new ApiFailure(error.code || `http_${response.status}`, error.message || response.statusText,
        response.status, error.request_id);
    }
    return data;
  }

  const enc = encodeURIComponent;
  /** The whole overview: its pages of apps, following `next` to the last. */
  async function loadOverview(credential) {
    const overview = await api('GET', `${API}/overview?limit=500`, undefined, credential);
    const apps = [...overview.apps];
    // Each page describes the capabilities its versions request.
    const capabilities = new Map(overview.capabilities.map((c) => [c.name, c]));
    let next = overview.next;
    while (next) {
      const page = await api('GET', `${API}/overview?limit=500&after=${enc(next)}`, undefined, credential);
      apps.push(...page.apps);
      for (const c of page.capabilities) capabilities.set(c.name, c);
      next = page.apps.length ? page.next : null;
    }
    return { ...overview, apps, capabilities: [...capabilities.values()], next: null };
  }

  // ---------------------------------------------------------------- chrome

  const nav = document.getElementById('nav');
  const langButton = document.getElementById('lang');
  const signOutButton = document.getElementById('sign-out');
  const reviewCount = document.getElementById('review-count');

  function updateChrome(view) {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll('[data-i18n-aria-label]')) {
      el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
    }
    langButton.textContent = t('lang.other');
    langButton.lang = t('lang.otherCode');
    nav.hidden = !token;
    signOutButton.hidden = !token;
    for (const link of nav.querySelectorAll('a[data-view]')) {
      if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  function updateReviewCount(overview) {
    let n = 0;
    for (const app of overview.apps) n += app.versions.filter((v) => v.state === 'in-review').length;
    reviewCount.textContent = n ? String(n) : '';
    reviewCount.hidden = !n;
  }

  // ---------------------------------------------------------------- routing

  /** `#/view/arg?query` → { view, arg, params }; null for in-page anchors. */
  function currentRoute() {
    const hash = location.hash;
    if (hash && !hash.startsWith('#/')) return null;
    const [path, query] = (hash || '#/').slice(1).split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { view: parts[0] || 'reviews', arg: parts[1] || null, params: new URLSearchParams(query || '') };
  }

  let lastRoute = { view: 'reviews', arg: null, params: new URLSearchParams() };
  let pendingNavigation = null;
  let renderSerial = 0;

  /** Go to `hash`; `keep` keeps the current messages, `focus` is a selector. */
  function navigate(hash, options = {}) {
    if (location.hash === hash) {
      render(options);
    } else {
      pendingNavigation = options;
      location.hash = hash;
    }
  }

  window.addEventListener('hashchange', () => {
    const options = pendingNavigation || {};
    pendingNavigation = null;
    if (!currentRoute()) return;
    if (!options.keep) clearMessages();
    render(options);
  });

  const VIEWS = { reviews: reviewsView, apps: appsView, audit: auditView };

  async function render(options = {}) {
    const serial = ++renderSerial;
    const route = currentRoute() || lastRoute;
    lastRoute = route;
    if (!token) {
      updateChrome(null);
      document.title = `${t('signin.title')} — Citadel`;
      main.replaceChildren(signInView());
      if (options.focus !== false) focusIn(options.focus);
      return;
    }
    updateChrome(route.view);
    main.setAttribute('aria-busy', 'true');
    main.replaceChildren(h('p', { class: 'muted' }, t('loading')));
    let content;
    try {
      const view = VIEWS[route.view];
      if (route.view === 'apps' && route.arg) content = await appView(route.arg);
      else if (view) content = await view(route);
      else content = messageView(t('error.notFound'));
    } catch (error) {
      if (serial !== renderSerial) return;
      if (error instanceof ApiFailure && error.status === 401) {
        sessionEnded();
        return;
      }
      content = messageView(t('error.view'));
      showError(error);
    }
    if (serial !== renderSerial) return;
    main.replaceChildren(content);
    main.removeAttribute('aria-busy');
    const heading = main.querySelector('h1');
    if (heading) document.title = `${heading.textContent} — Citadel`;
    if (options.focus !== false) focusIn(options.focus);
  }

  function focusIn(selector) {
    const target = (selector && main.querySelector(selector)) || main.querySelector('h1');
    if (target) target.focus();
  }

  function messageView(text) {
    return h('section', { class: 'panel' }, h('h1', { tabindex: '-1' }, text));
  }

  function sessionEnded() {
    setToken(null);
    render().then(() => showError(new Error(t('session.expired'))));
  }

  function setToken(value) {
    token = value;
    storageSet(sessionStorage, TOKEN_KEY, value);
  }

  /** Run `work` for `button`'s action: busy while it runs, errors shown. */
  async function act(button, work, { signingIn = false } = {}) {
    clearMessages();
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      return { ok: true, value: await work() };
    } catch (error) {
      if (!signingIn && error instanceof ApiFailure && error.status === 401) sessionEnded();
      else showError(error);
      return { ok: false };
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  // ---------------------------------------------------------------- sign in

  function signInView() {
    const input = h('input', {
      id: 'token-input', type: 'password', name: 'token', autocomplete: 'current-password',
      spellcheck: 'false', required: true, 'aria-describedby': 'token-help',
    });
    const submit = h('button', { type: 'submit' }, t('signin.submit'));
    const form = h('form', { class: 'stack', novalidate: true },
      h('label', { for: 'token-input' }, t('signin.token')),
      input,
      h('p', { id: 'token-help', class: 'hint' }, t('signin.help')),
      h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFieldError(input);
      const value = input.value.trim();
      if (!value) {
        fieldError(input, t('signin.empty'));
        return;
      }
      const result = await act(submit, () => loadOverview(value), { signingIn: true });
      if (!result.ok) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      setToken(value);
      updateReviewCount(result.value);
      announce(t('signin.done'));
      const route = currentRoute();
      navigate(route && location.hash.length > 2 ? location.hash : '#/reviews', { keep: true });
    });
    return h('section', { class: 'panel narrow', 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title', tabindex: '-1' }, t('signin.title')),
      h('p', null, t('signin.intro')),
      form);
  }

  // ---------------------------------------------------------------- tables

  /** A table inside a horizontally scrolling, keyboard-reachable region. */
  function table(caption, head, rows, attrs = {}) {
    const captionId = uid('caption');
    return h('div', { class: 'scroll', role: 'region', 'aria-labelledby': captionId, tabindex: '0' },
      h('table', attrs,
        h('caption', { id: captionId }, caption),
        h('thead', null, h('tr', null, head.map((label) => h('th', { scope: 'col' }, label)))),
        h('tbody', null, rows)));
  }

  function code(text) { return h('code', null, text); }

  function capabilityIndex(overview) {
    const index = new Map();
    for (const capability of overview.capabilities) index.set(capability.name, capability);
    return index;
  }

  /** What the host says a capability lets an app do, in the console's language. */
  function capabilitySummary(index, name) {
    const known = index.get(name);
    return known ? known.summary[lang] || known.summary.vi : '';
  }

  function stateBadge(state) {
    return h('span', { class: `badge state-${state}` }, t(`vstate.${state}`));
  }

  // ---------------------------------------------------------------- reviews

  async function reviewsView() {
    const overview = await loadOverview();
    updateReviewCount(overview);
    const index = capabilityIndex(overview);
    const queue = [];
    for (const app of overview.apps) {
      for (const version of app.versions) if (version.state === 'in-review') queue.push({ app, version });
    }
    queue.sort((a, b) => a.version.uploaded_at - b.version.uploaded_at);
    return h('section', { 'aria-labelledby': 'reviews-title' },
      h('h1', { id: 'reviews-title', tabindex: '-1' }, t('reviews.title')),
      h('p', { class: 'muted' }, t('reviews.intro')),
      queue.length
        ? h('div', { class: 'cards' }, queue.map(({ app, version }) => reviewCard(app, version, index)))
        : h('p', { class: 'empty' }, t('reviews.empty')));
  }

  function reviewCard(app, version, index) {
    const headingId = uid('review');
    const live = app.versions.find((v) => v.version === app.live) || null;
    const liveRequested = live ? live.requested : [];
    const requested = version.requested;
    const all = [...requested, ...liveRequested.filter((c) => !requested.includes(c))];
    const rows = all.map((name) => {
      const inNew = requested.includes(name);
      const inLive = liveRequested.includes(name);
      const change = inNew && !inLive ? 'added' : !inNew && inLive ? 'removed' : 'same';
      const known = index.get(name);
      return h('tr', { class: change === 'same' ? null : `change-${change}` },
        h('th', { scope: 'row' }, code(name)),
        h('td', null, capabilitySummary(index, name),
          known && known.personal ? h('span', { class: 'personal' }, ` (${t('review.personal')})`) : null),
        h('td', null, live ? (inLive ? t('yes') : t('no')) : t('dash')),
        h('td', null, inNew ? t('yes') : t('no')),
        h('td', null, h('span', { class: `badge change-${change}` },
          change === 'added' ? '+ ' : change === 'removed' ? '− ' : '', t(`change.${change}`))));
    });
    const comparison = all.length
      ? table(t('review.caption', { version: version.version }), [
        t('review.col.capability'), t('review.col.summary'),
        live ? t('review.col.live', { version: live.version }) : t('review.col.liveNone'),
        t('review.col.new', { version: version.version }), t('review.col.change'),
      ], rows, { class: 'compare' })
      : h('p', null, t('review.noRequests'));

    // Approve: the requested capabilities, pre-checked.
    const approveButton = h('button', { type: 'submit' }, t('review.approve'));
    const boxes = requested.map((name) => {
      const id = uid('grant');
      const hintId = `${id}-hint`;
      return h('div', { class: 'check' },
        h('input', { type: 'checkbox', id, name: 'grant', value: name, checked: true, 'aria-describedby': hintId }),
        h('label', { for: id }, code(name)),
        h('span', { id: hintId, class: 'hint' }, capabilitySummary(index, name)));
    });
    const approveForm = h('form', { class: 'stack' },
      requested.length
        ? h('fieldset', null, h('legend', null, t('review.grants')),
          h('p', { class: 'hint' }, t('review.grantsHelp')), boxes)
        : null,
      h('div', { class: 'actions' }, approveButton));
    approveForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const grants = [...approveForm.querySelectorAll('input[name="grant"]:checked')].map((box) => box.value);
      const result = await act(approveButton, () => api('POST',
        `${API}/apps/${enc(app.id)}/versions/${enc(version.version)}/approve`, { capabilities: grants }));
      if (!result.ok) return;
      announce(t('review.approved', { app: app.id, version: version.version, grants: list(grants) }));
      navigate(`#/apps/${enc(app.id)}`, { keep: true, focus: '#rollout-title' });
    });

    // Reject: a reason is required.
    const reasonId = uid('reason');
    const reason = h('textarea', { id: reasonId, name: 'reason', rows: '2', maxlength: '500', required: true });
    const rejectButton = h('button', { type: 'submit', class: 'danger' }, t('review.reject'));
    const rejectForm = h('form', { class: 'stack', novalidate: true },
      h('label', { for: reasonId }, t('review.reason')), reason,
      h('div', { class: 'actions' }, rejectButton));
    rejectForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFieldError(reason);
      const text = reason.value.trim();
      if (!text) {
        fieldError(reason, t('review.reasonEmpty'));
        return;
      }
      const result = await act(rejectButton, () => api('POST',
        `${API}/apps/${enc(app.id)}/versions/${enc(version.version)}/reject`, { reason: text }));
      if (!result.ok) return;
      announce(t('review.rejected', { app: app.id, version: version.version }));
      render({ focus: '#reviews-title' });
    });

    return h('article', { class: 'card', 'aria-labelledby': headingId },
      h('h2', { id: headingId },
        t('review.heading', { name: (version.name && version.name[lang]) || appName(app), app: app.id, version: version.version })),
      h('p', { class: 'muted' }, t('review.meta', { publisher: app.publisher, at: formatTime(version.uploaded_at * 1000) })),
      h('p', null, live ? t('review.live', { version: live.version }) : t('review.new')),
      comparison,
      h('div', { class: 'decide' }, approveForm, rejectForm));
  }

  // ---------------------------------------------------------------- apps

  async function appsView() {
    const overview = await loadOverview();
    updateReviewCount(overview);
    const rows = overview.apps.map((app) => {
      const pending = app.versions.filter((v) => v.state === 'in-review').length;
      return h('tr', null,
        h('th', { scope: 'row' }, h('a', { href: `#/apps/${enc(app.id)}` }, `${appName(app)} (${app.id})`)),
        h('td', null, app.live || t('dash')),
        h('td', null, app.canary ? t('canary.share', { version: app.canary, percent: app.canary_percent }) : t('dash')),
        h('td', null, app.suspended
          ? h('span', { class: 'badge suspended' }, t('state.suspended', { reason: app.suspended }))
          : t('state.active')),
        h('td', null, app.granted.length ? app.granted.map((c, i) => [i ? ', ' : '', code(c)]) : t('none')),
        h('td', null, pending ? h('span', { class: 'badge state-in-review' }, String(pending)) : t('dash')));
    });
    return h('section', { 'aria-labelledby': 'apps-title' },
      h('h1', { id: 'apps-title', tabindex: '-1' }, t('apps.title')),
      h('p', { class: 'muted' }, t('apps.intro')),
      rows.length
        ? table(t('apps.caption'), [t('apps.col.app'), t('apps.col.live'), t('apps.col.canary'),
          t('apps.col.state'), t('apps.col.grants'), t('apps.col.pending')], rows)
        : h('p', { class: 'empty' }, t('apps.empty')));
  }

  function section(id, title, ...children) {
    return h('section', { class: 'panel', 'aria-labelledby': id },
      h('h2', { id, tabindex: '-1' }, title), children);
  }

  async function appView(id) {
    const overview = await loadOverview();
    updateReviewCount(overview);
    const app = overview.apps.find((a) => a.id === id);
    if (!app) return messageView(t('error.noApp', { app: id }));
    const index = capabilityIndex(overview);
    const rerender = (focus) => render({ focus, keep: true });

    const facts = h('dl', { class: 'facts' },
      h('dt', null, t('app.publisher')), h('dd', null, app.publisher),
      h('dt', null, t('app.live')), h('dd', { id: 'fact-live' }, app.live || t('none')),
      h('dt', null, t('app.canary')), h('dd', { id: 'fact-canary' },
        app.canary ? t('canary.share', { version: app.canary, percent: app.canary_percent }) : t('none')),
      h('dt', null, t('app.previous')), h('dd', null, app.previous || t('dash')),
      h('dt', null, t('app.state')), h('dd', null, app.suspended
        ? h('span', { class: 'badge suspended' }, t('state.suspended', { reason: app.suspended }))
        : t('state.active')),
      h('dt', null, t('app.granted')), h('dd', null, app.granted.length ? app.granted.map((c, i) => [i ? ', ' : '', code(c)]) : t('none')));

    return h('div', { class: 'app-page' },
      h('p', null, h('a', { href: '#/apps', class: 'back' }, `← ${t('app.back')}`)),
      h('h1', { id: 'app-title', tabindex: '-1' }, t('app.title', { name: appName(app), app: app.id })),
      h('section', { class: 'panel', 'aria-labelledby': 'facts-title' },
        h('h2', { id: 'facts-title' }, t('app.facts')), facts),
      rolloutSection(app, rerender),
      suspendSection(app, rerender),
      grantsSection(app, index, rerender),
      metricsSection(app),
      versionsSection(app));
  }

  function rolloutSection(app, rerender) {
    const candidates = app.versions.filter((v) => v.state === 'approved' || v.state === 'canary');
    const parts = [];
    if (candidates.length) {
      const select = h('select', { id: 'rollout-version', name: 'version' },
        candidates.map((v) => h('option', { value: v.version, selected: v.version === app.canary },
          `${v.version} — ${t(`vstate.${v.state}`)}`)));
      const percent = h('input', {
        id: 'rollout-percent', name: 'percent', type: 'number', min: '1', max: '100', step: '1',
        inputmode: 'numeric', value: String(app.canary ? app.canary_percent : 10), 'aria-describedby': 'rollout-percent-help',
      });
      const submit = h('button', { type: 'submit' }, t('rollout.submit'));
      const complete = h('button', { type: 'button', class: 'secondary' }, t('rollout.complete'));
      const form = h('form', { class: 'stack', novalidate: true },
        h('label', { for: 'rollout-version' }, t('rollout.version')), select,
        h('label', { for: 'rollout-percent' }, t('rollout.percent')), percent,
        h('p', { id: 'rollout-percent-help', class: 'hint' }, t('rollout.percentHelp')),
        h('div', { class: 'actions' }, submit, complete));
      const roll = async (button, share) => {
        const result = await act(button, () => api('POST', `${API}/apps/${enc(app.id)}/rollout`,
          { version: select.value, percent: share }));
        if (!result.ok) return;
        announce(share === 100
          ? t('rollout.done', { app: app.id, version: select.value })
          : t('rollout.canaryDone', { app: app.id, version: select.value, percent: share }));
        rerender('#rollout-title');
      };
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        clearFieldError(percent);
        const share = Number(percent.value);
        if (!Number.isInteger(share) || share < 1 || share > 100) {
          fieldError(percent, t('rollout.badPercent'));
          return;
        }
        roll(submit, share);
      });
      complete.addEventListener('click', () => roll(complete, 100));
      parts.push(form);
    } else {
      parts.push(h('p', null, t('rollout.none')));
    }

    // Roll back: the canary, or else the live version for the previous one.
    parts.push(h('h3', null, t('rollback.title')));
    if (app.canary || app.previous) {
      const describe = app.canary
        ? t('rollback.canary', { version: app.canary, live: app.live || t('none') })
        : t('rollback.previous', { previous: app.previous, live: app.live });
      const button = h('button', { type: 'button', class: 'secondary', 'aria-describedby': 'rollback-help' }, t('rollback.submit'));
      button.addEventListener('click', async () => {
        const result = await act(button, () => api('POST', `${API}/apps/${enc(app.id)}/rollback`));
        if (!result.ok) return;
        announce(t('rollback.done', { app: app.id, live: result.value.live || t('none') }));
        rerender('#rollout-title');
      });
      parts.push(h('p', { id: 'rollback-help', class: 'hint' }, describe), h('div', { class: 'actions' }, button));
    } else {
      parts.push(h('p', null, t('rollback.nothing')));
    }
    return section('rollout-title', t('rollout.title'), parts);
  }

  function suspendSection(app, rerender) {
    if (app.suspended) {
      const resume = h('button', { type: 'button' }, t('suspend.resume'));
      resume.addEventListener('click', async () => {
        const result = await act(resume, () => api('POST', `${API}/apps/${enc(app.id)}/resume`));
        if (!result.ok) return;
        announce(t('suspend.resumed', { app: app.id }));
        rerender('#suspend-title');
      });
      return section('suspend-title', t('suspend.title'),
        h('p', null, t('suspend.current', { reason: app.suspended })), h('div', { class: 'actions' }, resume));
    }
    const reason = h('input', { id: 'suspend-reason', name: 'reason', type: 'text', maxlength: '500', required: true });
    const submit = h('button', { type: 'submit', class: 'danger' }, t('suspend.submit'));
    const form = h('form', { class: 'stack', novalidate: true },
      h('label', { for: 'suspend-reason' }, t('suspend.reason')), reason, h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFieldError(reason);
      const text = reason.value.trim();
      if (!text) {
        fieldError(reason, t('suspend.reasonEmpty'));
        return;
      }
      const result = await act(submit, () => api('POST', `${API}/apps/${enc(app.id)}/suspend`, { reason: text }));
      if (!result.ok) return;
      announce(t('suspend.done', { app: app.id }));
      rerender('#suspend-title');
    });
    return section('suspend-title', t('suspend.title'), form);
  }

  function grantsSection(app, index, rerender) {
    const serving = app.versions.filter((v) => v.version === app.live || v.version === app.canary);
    if (!serving.length) return section('grants-title', t('grants.title'), h('p', null, t('grants.noServing')));
    // Each serving version keeps its own grants: one form each, saving that version's only.
    const forms = serving.map((version) => {
      const granted = version.granted || [];
      const stale = granted.filter((c) => !version.requested.includes(c));
      const submit = h('button', { type: 'submit' }, t('grants.submit'));
      const boxes = version.requested.map((name) => {
        const id = uid('app-grant');
        return h('div', { class: 'check' },
          h('input', { type: 'checkbox', id, name: 'grant', value: name, checked: granted.includes(name), 'aria-describedby': `${id}-hint` }),
          h('label', { for: id }, code(name)),
          h('span', { id: `${id}-hint`, class: 'hint' }, capabilitySummary(index, name)));
      });
      const form = h('form', { class: 'stack' },
        version.requested.length
          ? h('fieldset', null, h('legend', null, t('grants.legend', { version: version.version })), h('p', { class: 'hint' }, t('grants.help')), boxes)
          : h('p', null, t('grants.none')),
        stale.length ? h('p', { class: 'hint' }, t('grants.stale', { list: stale.join(', ') })) : null,
        h('div', { class: 'actions' }, submit));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const grants = [...form.querySelectorAll('input[name="grant"]:checked')].map((box) => box.value);
        const body = { capabilities: grants, version: version.version };
        const result = await act(submit, () => api('PUT', `${API}/apps/${enc(app.id)}/grants`, body));
        if (!result.ok) return;
        const saved = (result.value.serving || []).find((v) => v.version === version.version);
        announce(t('grants.done', { app: app.id, version: version.version, grants: list(saved ? saved.granted : grants) }));
        rerender('#grants-title');
      });
      return form;
    });
    return section('grants-title', t('grants.title'), ...forms);
  }

  function versionsSection(app) {
    const rows = app.versions.map((v) => h('tr', null,
      h('th', { scope: 'row' }, v.version),
      h('td', null, stateBadge(v.state)),
      h('td', null, v.requested.length ? v.requested.map((c, i) => [i ? ', ' : '', code(c)]) : t('none')),
      h('td', null, v.granted === null ? t('dash') : v.granted.length ? v.granted.map((c, i) => [i ? ', ' : '', code(c)]) : t('none')),
      h('td', null, formatTime(v.changed_at * 1000)),
      h('td', null, v.changed_by),
      h('td', null, v.reason || t('dash'))));
    return section('versions-title', t('versions.title'),
      table(t('versions.caption', { app: app.id }), [t('versions.col.version'), t('versions.col.state'),
        t('versions.col.requested'), t('versions.col.granted'), t('versions.col.changed'), t('versions.col.by'), t('versions.col.reason')], rows));
  }

  // ---------------------------------------------------------------- metrics

  /** The app's series (telemetry::app_summary) grouped for the charts. */
  function parseMetrics(summary) {
    const m = {
      status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
      buckets: [], quantiles: {}, sum: 0, count: 0,
      failures: { trap: 0, timeout: 0, out_of_memory: 0 },
      denials: {},
    };
    const add = (table, key, value) => { table[key] = (table[key] || 0) + value; };
    for (const series of summary.series || []) {
      const value = Number(series.value);
      const labels = series.labels || {};
      if (!Number.isFinite(value)) continue;
      switch (series.metric) {
        case 'citadel_app_requests_total': add(m.status, labels.status, value); break;
        case 'citadel_app_request_duration_seconds_bucket':
          m.buckets.push({ le: labels.le === '+Inf' ? Infinity : Number(labels.le), count: value });
          break;
        case 'citadel_app_request_duration_seconds':
          if (labels.quantile) m.quantiles[labels.quantile] = value;
          break;
        case 'citadel_app_request_duration_seconds_sum': m.sum += value; break;
        case 'citadel_app_request_duration_seconds_count': m.count += value; break;
        case 'citadel_app_guest_failures_total': add(m.failures, labels.kind, value); break;
        case 'citadel_app_denials_total': add(m.denials, labels.capability, value); break;
        default: break;
      }
    }
    m.buckets.sort((a, b) => a.le - b.le);
    return m;
  }

  /** The `q` quantile from cumulative buckets, interpolated as Prometheus does. */
  function quantile(q, buckets) {
    const total = buckets.length ? buckets[buckets.length - 1].count : 0;
    if (!total) return null;
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (let i = 0; i < buckets.length; i += 1) {
      const bucket = buckets[i];
      if (bucket.count >= rank) {
        if (bucket.le === Infinity) return { value: lower, over: true, index: i, fraction: 0.5 };
        const inside = bucket.count - below;
        const fraction = inside > 0 ? (rank - below) / inside : 1;
        return { value: lower + (bucket.le - lower) * fraction, over: false, index: i, fraction };
      }
      lower = bucket.le;
      below = bucket.count;
    }
    return null;
  }

  function formatQuantile(result) {
    if (!result) return t('dash');
    return result.over ? t('metrics.over', { value: formatSeconds(result.value) }) : formatSeconds(result.value);
  }

  /** A chart: title, a one-line summary, the SVG and the same data as a table. */
  function chartFigure(title, summary, drawing, rows) {
    const titleId = uid('chart');
    const summaryId = `${titleId}-summary`;
    if (drawing) {
      drawing.setAttribute('role', 'img');
      drawing.setAttribute('aria-labelledby', `${titleId} ${summaryId}`);
    }
    return h('figure', { class: 'chart', 'aria-labelledby': titleId },
      h('h3', { id: titleId }, title),
      h('p', { id: summaryId, class: 'chart-summary' }, summary),
      drawing,
      rows && rows.length ? h('details', null, h('summary', null, t('metrics.table')),
        table(title, [t('metrics.col.what'), t('metrics.col.value')],
          rows.map(([label, value]) => h('tr', null, h('th', { scope: 'row' }, label), h('td', null, value))))) : null);
  }

  function shorten(text, max) { return text.length > max ? `${text.slice(0, max - 1)}…` : text; }

  /** Horizontal bars, one per row: [{ label, value, cls }]. */
  function barChart(rows) {
    const width = 280;
    const labelWidth = 106;
    const rowHeight = 30;
    const room = width - labelWidth - 50;
    const max = Math.max(1, ...rows.map((r) => r.value));
    const height = rows.length * rowHeight + 6;
    const drawing = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', class: 'bars', focusable: 'false' });
    rows.forEach((row, i) => {
      const y = i * rowHeight + 4;
      const length = row.value > 0 ? Math.max(2, (row.value / max) * room) : 0;
      drawing.append(
        svg('text', { x: labelWidth - 8, y: y + 17, 'text-anchor': 'end', class: 'label' }, shorten(row.label, 13)),
        svg('rect', { x: labelWidth, y: y + 3, width: length.toFixed(1), height: 20, rx: 2, class: row.cls || 'fill-main' }),
        svg('text', { x: labelWidth + length + 6, y: y + 17, class: 'value' }, formatNumber(row.value)));
    });
    drawing.append(svg('line', { x1: labelWidth, y1: 2, x2: labelWidth, y2: height - 2, class: 'axis' }));
    return drawing;
  }

  function bucketLabel(buckets, i) {
    const le = buckets[i].le;
    if (le === Infinity) return `> ${formatSeconds(buckets[i - 1] ? buckets[i - 1].le : 0)}`;
    return `≤ ${formatSeconds(le)}`;
  }

  /** The latency histogram (per bucket, not cumulative), with p99 marked. */
  function histogram(buckets, p99) {
    const width = 340;
    const left = 30;
    const top = 18;
    const plot = 110;
    const height = top + plot + 76;
    const slot = (width - left - 6) / buckets.length;
    const counts = buckets.map((b, i) => b.count - (i ? buckets[i - 1].count : 0));
    const max = Math.max(1, ...counts);
    const drawing = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', class: 'histogram', focusable: 'false' });
    counts.forEach((count, i) => {
      const x = left + i * slot;
      const barHeight = count > 0 ? Math.max(2, (count / max) * plot) : 0;
      const inP99 = p99 && p99.index === i;
      drawing.append(svg('rect', {
        x: (x + 2).toFixed(1), y: (top + plot - barHeight).toFixed(1), width: (slot - 4).toFixed(1),
        height: barHeight.toFixed(1), class: inP99 ? 'fill-accent' : 'fill-main',
      }));
      if (count > 0) {
        drawing.append(svg('text', { x: (x + slot / 2).toFixed(1), y: (top + plot - barHeight - 4).toFixed(1), 'text-anchor': 'middle', class: 'value small' }, formatNumber(count)));
      }
      const lx = x + slot / 2 + 3;
      const ly = top + plot + 10;
      drawing.append(svg('text', { x: lx.toFixed(1), y: ly, 'text-anchor': 'end', transform: `rotate(-55 ${lx.toFixed(1)} ${ly})`, class: 'label small' }, bucketLabel(buckets, i)));
    });
    drawing.append(svg('line', { x1: left, y1: top + plot, x2: width - 6, y2: top + plot, class: 'axis' }));
    if (p99) {
      const x = left + (p99.index + p99.fraction) * slot;
      drawing.append(
        svg('line', { x1: x.toFixed(1), y1: top - 6, x2: x.toFixed(1), y2: top + plot, class: 'marker' }),
        svg('text', { x: (x + 4).toFixed(1), y: top - 6, class: 'label marker-label' }, 'p99'));
    }
    return drawing;
  }

  function metricsCharts(m) {
    const statusRows = Object.entries(m.status)
      .filter(([cls, value]) => value > 0 || cls !== '1xx')
      .map(([cls, value]) => ({ label: cls, value, cls: `fill-${cls}` }));
    const total = statusRows.reduce((n, r) => n + r.value, 0);
    const errors = m.status['5xx'];
    const requests = chartFigure(t('metrics.requests'),
      total ? t('metrics.requestsSummary', { total: formatNumber(total), errors: formatNumber(errors), rate: formatPercent(total ? errors / total : 0) })
        : t('metrics.noRequests'),
      barChart(statusRows), statusRows.map((r) => [r.label, formatNumber(r.value)]));

    const errorRows = [
      { label: t('metrics.5xx'), value: errors, cls: 'fill-5xx' },
      ...['trap', 'timeout', 'out_of_memory'].map((kind) => ({ label: t(`metrics.${kind}`), value: m.failures[kind] || 0, cls: 'fill-5xx' })),
    ];
    const errorTotal = errorRows.reduce((n, r) => n + r.value, 0);
    const errorChart = chartFigure(t('metrics.errors'), t('metrics.errorsSummary', { n: formatNumber(errorTotal) }),
      barChart(errorRows), errorRows.map((r) => [r.label, formatNumber(r.value)]));

    let latency;
    const measured = m.buckets.length ? m.buckets[m.buckets.length - 1].count : 0;
    if (measured) {
      const p99 = quantile(0.99, m.buckets);
      const p50 = quantile(0.5, m.buckets);
      const mean = m.count ? m.sum / m.count : 0;
      const rows = m.buckets.map((b, i) => [bucketLabel(m.buckets, i), formatNumber(b.count - (i ? m.buckets[i - 1].count : 0))]);
      rows.push(['p50', formatQuantile(p50)], ['p99', formatQuantile(p99)]);
      latency = chartFigure(t('metrics.latency'),
        t('metrics.latencySummary', { p99: formatQuantile(p99), p50: formatQuantile(p50), mean: formatSeconds(mean) }),
        histogram(m.buckets, p99), rows);
    } else if (m.quantiles['0.99'] !== undefined) {
      latency = chartFigure(t('metrics.latency'), `p99 ≈ ${formatSeconds(m.quantiles['0.99'])}`, null,
        Object.entries(m.quantiles).map(([q, v]) => [`q${q}`, formatSeconds(v)]));
    } else {
      latency = chartFigure(t('metrics.latency'), t('metrics.noLatency'), null, null);
    }

    const denialRows = Object.entries(m.denials).sort((a, b) => b[1] - a[1])
      .map(([capability, value]) => ({ label: capability, value, cls: 'fill-4xx' }));
    const denialTotal = denialRows.reduce((n, r) => n + r.value, 0);
    const denials = chartFigure(t('metrics.denials'),
      denialTotal ? t('metrics.denialsSummary', { n: formatNumber(denialTotal) }) : t('metrics.noDenials'),
      denialRows.length ? barChart(denialRows) : null, denialRows.map((r) => [r.label, formatNumber(r.value)]));

    return [requests, errorChart, latency, denials];
  }

  function metricsSection(app) {
    const holder = h('div', { class: 'charts', 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'muted' }, t('loading')));
    const refresh = h('button', { type: 'button', class: 'secondary' }, t('metrics.refresh'));
    const load = async (announced) => {
      holder.setAttribute('aria-busy', 'true');
      try {
        const summary = await api('GET', `${API}/apps/${enc(app.id)}/metrics`);
        holder.replaceChildren(...metricsCharts(parseMetrics(summary)));
        if (announced) announce(t('metrics.refreshed'));
      } catch (error) {
        holder.replaceChildren(h('p', { class: 'field-error' }, error.display ? error.display() : String(error)));
      } finally {
        holder.removeAttribute('aria-busy');
      }
    };
    refresh.addEventListener('click', async () => {
      refresh.disabled = true;
      await load(true);
      refresh.disabled = false;
      refresh.focus();
    });
    load(false);
    return section('metrics-title', t('metrics.title'),
      h('p', { class: 'muted' }, t('metrics.intro')), h('div', { class: 'actions' }, refresh), holder);
  }

  // ---------------------------------------------------------------- audit

  async function auditView(route) {
    const filters = {
      kind: route.params.get('kind') || '',
      app: route.params.get('app') || '',
      capability: route.params.get('capability') || '',
    };
    // Records per page: 50, or `limit` in the address (1–500).
    const limit = Math.min(500, Math.max(1, Math.trunc(Number(route.params.get('limit'))) || 50));
    const query = (extra) => {
      const params = new URLSearchParams({ limit: String(limit), ...extra });
      for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
      return `${API}/audit/recent?${params}`;
    };
    const [overview, page] = await Promise.all([loadOverview(), api('GET', query({}))]);
    updateReviewCount(overview);

    const kindInput = h('input', { id: 'audit-kind', name: 'kind', type: 'text', list: 'audit-kinds', value: filters.kind, autocomplete: 'off', spellcheck: 'false' });
    const appSelect = h('select', { id: 'audit-app', name: 'app' },
      h('option', { value: '' }, t('audit.allApps')),
      overview.apps.map((app) => h('option', { value: app.id, selected: app.id === filters.app }, `${appName(app)} (${app.id})`)));
    const capabilities = new Set(overview.capabilities.map((c) => c.name));
    for (const app of overview.apps) for (const v of app.versions) for (const c of v.requested) capabilities.add(c);
    const capabilityInput = h('input', { id: 'audit-capability', name: 'capability', type: 'text', list: 'audit-capabilities', value: filters.capability, autocomplete: 'off', spellcheck: 'false' });
    const apply = h('button', { type: 'submit' }, t('audit.apply'));
    const clear = h('button', { type: 'button', class: 'secondary' }, t('audit.clear'));
    const form = h('form', { class: 'filters', role: 'search', 'aria-labelledby': 'audit-filters-title' },
      h('h2', { id: 'audit-filters-title', class: 'visually-hidden' }, t('audit.filters')),
      h('div', { class: 'field' }, h('label', { for: 'audit-kind' }, t('audit.kind')), kindInput,
        h('datalist', { id: 'audit-kinds' }, KINDS.map((k) => h('option', { value: k }, t(`kind.${k}`))))),
      h('div', { class: 'field' }, h('label', { for: 'audit-app' }, t('audit.app')), appSelect),
      h('div', { class: 'field' }, h('label', { for: 'audit-capability' }, t('audit.capability')), capabilityInput,
        h('datalist', { id: 'audit-capabilities' }, [...capabilities].sort().map((c) => h('option', { value: c })))),
      h('div', { class: 'actions' }, apply, clear));
    const go = (values) => {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(values)) if (value.trim()) params.set(key, value.trim());
      if (route.params.get('limit')) params.set('limit', String(limit));
      const text = params.toString();
      navigate(`#/audit${text ? `?${text}` : ''}`, { focus: '#audit-results' });
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      go({ kind: kindInput.value, app: appSelect.value, capability: capabilityInput.value });
    });
    clear.addEventListener('click', () => go({ kind: '', app: '', capability: '' }));

    let shown = page.records.length;
    const tbody = h('tbody', null, page.records.map((record) => auditRow(record, page.texts)));
    const count = h('p', { id: 'audit-count' }, t('audit.shown', { n: shown }));
    const captionId = uid('caption');
    const results = page.records.length
      ? h('div', { class: 'scroll', role: 'region', 'aria-labelledby': captionId, tabindex: '0' },
        h('table', { class: 'audit' },
          h('caption', { id: captionId }, t('audit.caption')),
          h('thead', null, h('tr', null, ['seq', 'at', 'kind', 'actor', 'app', 'version', 'capability', 'detail']
            .map((c) => h('th', { scope: 'col' }, t(`audit.col.${c}`))))),
          tbody))
      : h('p', { class: 'empty' }, t('audit.empty'));
    const older = h('button', { type: 'button', class: 'secondary' }, t('audit.older'));
    let before = page.older;
    older.hidden = before === null || before === undefined;
    older.addEventListener('click', async () => {
      const result = await act(older, () => api('GET', query({ before: String(before) })));
      if (!result.ok) return;
      const rows = result.value.records.map((record) => auditRow(record, result.value.texts));
      tbody.append(...rows);
      shown += rows.length;
      count.textContent = t('audit.shown', { n: shown });
      before = result.value.older;
      const end = before === null || before === undefined;
      announce(`${t('audit.more', { n: rows.length })}${end ? ` ${t('audit.end')}` : ''}`);
      if (rows.length) {
        const first = rows[0].querySelector('th');
        first.setAttribute('tabindex', '-1');
        first.focus();
      }
      older.hidden = end;
    });

    return h('section', { 'aria-labelledby': 'audit-title' },
      h('h1', { id: 'audit-title', tabindex: '-1' }, t('audit.title')),
      h('p', { class: 'muted' }, t('audit.intro')),
      form,
      h('section', { 'aria-labelledby': 'audit-results' },
        h('h2', { id: 'audit-results', tabindex: '-1' }, t('audit.results')),
        count, results, h('div', { class: 'actions' }, older)));
  }

  /** A record's detail in the console's language: the host catalogue's
   *  sentence for its message code (`texts`, in both languages) with the
   *  record's parameters filled in, as a table cell. A record without one
   *  (written before messages existed, or free text) shows its stored
   *  English `detail`, marked as English. */
  function auditDetail(record, texts) {
    const text = record.message && texts && texts[record.message.code];
    if (!text) return h('td', { class: 'detail', lang: 'en' }, record.detail);
    const params = record.message.params || {};
    const said = text[lang].replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
    return h('td', { class: 'detail' }, said);
  }

  function auditRow(record, texts) {
    const known = KINDS.includes(record.kind);
    return h('tr', { class: `kind-${record.kind}` },
      h('th', { scope: 'row' }, String(record.seq)),
      h('td', { class: 'nowrap' }, formatTime(record.at)),
      h('td', null, known ? [t(`kind.${record.kind}`), ' '] : null, code(record.kind)),
      h('td', null, record.actor),
      h('td', null, record.app || t('dash')),
      h('td', null, record.version || t('dash')),
      h('td', { class: 'capability' }, record.capability ? code(record.capability) : t('dash')),
      auditDetail(record, texts));
  }

  // ---------------------------------------------------------------- start

  langButton.addEventListener('click', () => {
    lang = lang === 'vi' ? 'en' : 'vi';
    storageSet(localStorage, LANG_KEY, lang);
    clearMessages();
    render({ focus: false }).then(() => langButton.focus());
  });

  signOutButton.addEventListener('click', () => {
    setToken(null);
    reviewCount.textContent = '';
    navigate('#/', { keep: true });
    announce(t('signout.done'));
  });

  document.getElementById('skip').addEventListener('click', (event) => {
    event.preventDefault();
    const heading = main.querySelector('h1');
    (heading || main).focus();
  });

  render({ focus: false });
})();
