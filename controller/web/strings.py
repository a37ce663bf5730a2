"""Every string the web UI shows, Vietnamese first, English second. Templates call ``t(key)``."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("vi", "en")

UI: dict[str, dict[str, str]] = {
    "app.name": {"vi": "Loa Làng — Đài truyền thanh xã", "en": "Loa Làng — commune radio"},
    "nav.home": {"vi": "Trang chính", "en": "Home"},
    "nav.send": {"vi": "Phát bản tin", "en": "Send a bulletin"},
    "nav.week": {"vi": "Lịch tuần", "en": "This week"},
    "week.title": {"vi": "Lịch phát 7 ngày tới", "en": "The next 7 days"},
    "week.empty": {"vi": "Không có gì", "en": "Nothing"},
    "day.0": {"vi": "Thứ Hai", "en": "Monday"}, "day.1": {"vi": "Thứ Ba", "en": "Tuesday"},
    "day.2": {"vi": "Thứ Tư", "en": "Wednesday"}, "day.3": {"vi": "Thứ Năm", "en": "Thursday"},
    "day.4": {"vi": "Thứ Sáu", "en": "Friday"}, "day.5": {"vi": "Thứ Bảy", "en": "Saturday"},
    "day.6": {"vi": "Chủ Nhật", "en": "Sunday"},
    "nav.approvals": {"vi": "Phê duyệt", "en": "Approvals"},
    "nav.fleet": {"vi": "Thiết bị", "en": "Devices"},
    "nav.alarms": {"vi": "Cảnh báo", "en": "Alarms"},
    "nav.audit": {"vi": "Nhật ký", "en": "Audit log"},
    "nav.logout": {"vi": "Đăng xuất", "en": "Log out"},
    "nav.language": {"vi": "English", "en": "Tiếng Việt"},
    "login.title": {"vi": "Đăng nhập", "en": "Log in"},
    "login.username": {"vi": "Tên đăng nhập", "en": "User name"},
    "login.password": {"vi": "Mật khẩu", "en": "Password"},
    "login.submit": {"vi": "Đăng nhập", "en": "Log in"},
    "home.title": {"vi": "Hôm nay", "en": "Today"},
    "home.recent": {"vi": "Bản tin gần đây", "en": "Recent broadcasts"},
    "home.villages": {"vi": "Các thôn: bản tin gần nhất", "en": "Villages: last broadcast"},
    "home.none": {"vi": "Chưa có bản tin nào.", "en": "No broadcasts yet."},
    "send.title": {"vi": "Phát bản tin", "en": "Send a bulletin"},
    "send.file": {"vi": "Tệp âm thanh (MP3, WAV, OGG, M4A…)", "en": "Audio file (MP3, WAV, OGG, M4A…)"},
    "send.record": {"vi": "Hoặc ghi âm ngay", "en": "Or record now"},
    "send.record.start": {"vi": "Bắt đầu ghi", "en": "Start recording"},
    "send.record.stop": {"vi": "Dừng ghi", "en": "Stop recording"},
    "send.bulletin_title": {"vi": "Tiêu đề bản tin", "en": "Bulletin title"},
    "send.villages": {"vi": "Phát tới thôn", "en": "Villages"},
    "send.when": {"vi": "Thời điểm phát", "en": "When"},
    "send.now": {"vi": "Ngay bây giờ", "en": "Now"},
    "send.at": {"vi": "Vào lúc", "en": "At"},
    "send.priority": {"vi": "Mức ưu tiên", "en": "Priority"},
    "send.submit": {"vi": "Gửi", "en": "Send"},
    "send.held": {"vi": "Đã gửi, đang chờ phê duyệt.", "en": "Sent; waiting for approval."},
    "send.confirm_needed": {"vi": "Tin khẩn cấp: cần người thứ hai xác nhận.",
                            "en": "Emergency: a second person must confirm it."},
    "error.title_empty": {"vi": "Hãy nhập tiêu đề bản tin.", "en": "Enter a title."},
    "error.no_village": {"vi": "Hãy chọn ít nhất một thôn.", "en": "Choose at least one village."},
    "error.no_file": {"vi": "Hãy chọn tệp âm thanh hoặc ghi âm.",
                      "en": "Choose an audio file or record one."},
    "error.bad_time": {"vi": "Thời điểm không hợp lệ.", "en": "Invalid time."},
    "error.forbidden": {"vi": "Tài khoản của bạn không có quyền xem trang này.",
                        "en": "Your account may not see this page."},
    "priority.background": {"vi": "Nền", "en": "Background"},
    "priority.normal": {"vi": "Bình thường", "en": "Normal"},
    "priority.priority": {"vi": "Ưu tiên", "en": "Priority"},
    "priority.emergency": {"vi": "Khẩn cấp", "en": "Emergency"},
    "broadcast.title": {"vi": "Bản tin", "en": "Broadcast"},
    "broadcast.state": {"vi": "Trạng thái", "en": "State"},
    "broadcast.start": {"vi": "Giờ phát", "en": "Start"},
    "broadcast.length": {"vi": "Độ dài", "en": "Length"},
    "broadcast.loudness": {"vi": "Độ to (LUFS)", "en": "Loudness (LUFS)"},
    "broadcast.listen": {"vi": "Nghe thử", "en": "Listen"},
    "broadcast.by": {"vi": "Người tạo", "en": "Created by"},
    "broadcast.device": {"vi": "Cụm loa", "en": "Loudspeaker"},
    "broadcast.cancel": {"vi": "Huỷ", "en": "Cancel"},
    "approvals.title": {"vi": "Chờ phê duyệt", "en": "Waiting for approval"},
    "approvals.none": {"vi": "Không có gì chờ duyệt.", "en": "Nothing is waiting."},
    "approvals.approve": {"vi": "Duyệt", "en": "Approve"},
    "approvals.confirm": {"vi": "Xác nhận (người thứ hai)", "en": "Confirm (second person)"},
    "approvals.reject": {"vi": "Từ chối", "en": "Reject"},
    "approvals.reason": {"vi": "Lý do từ chối", "en": "Reason"},
    "approvals.schedules": {"vi": "Thay đổi lịch phát", "en": "Schedule changes"},
    "fleet.title": {"vi": "Thiết bị", "en": "Devices"},
    "fleet.zone": {"vi": "Thôn", "en": "Village"},
    "fleet.state": {"vi": "Trạng thái", "en": "State"},
    "fleet.all": {"vi": "Tất cả", "en": "All"},
    "fleet.filter": {"vi": "Lọc", "en": "Filter"},
    "fleet.since": {"vi": "từ", "en": "since"},
    "fleet.health": {"vi": "Sức khoẻ", "en": "Health"},
    "fleet.alarms": {"vi": "Cảnh báo", "en": "Alarms"},
    "fleet.map": {"vi": "Bản đồ cụm loa", "en": "Map of clusters"},
    "fleet.online_ratio": {"vi": "Tỉ lệ trực tuyến", "en": "Online ratio"},
    "state.online": {"vi": "Trực tuyến", "en": "Online"},
    "state.offline": {"vi": "Mất kết nối", "en": "Offline"},
    "state.unknown": {"vi": "Chưa rõ", "en": "Unknown"},
    "device.telemetry": {"vi": "Số liệu theo thời gian", "en": "Telemetry history"},
    "device.plays": {"vi": "Lần phát gần đây", "en": "Recent plays"},
    "device.no_data": {"vi": "Chưa có số liệu.", "en": "No data yet."},
    "alarms.title": {"vi": "Cảnh báo", "en": "Alarms"},
    "alarms.none": {"vi": "Không có cảnh báo.", "en": "No alarms."},
    "alarms.ack": {"vi": "Đã biết", "en": "Acknowledge"},
    "alarms.acked_by": {"vi": "đã xem", "en": "seen by"},
    "audit.title": {"vi": "Nhật ký hoạt động", "en": "Audit log"},
    "audit.export": {"vi": "Tải CSV", "en": "Download CSV"},
    "fleet.mains": {"vi": "điện lưới", "en": "mains"},
    "fleet.battery": {"vi": "chạy pin", "en": "on battery"},
    "fleet.door": {"vi": "cửa tủ mở", "en": "door open"},
    "fleet.no_coordinates": {"vi": "Chưa có toạ độ cụm loa nào.",
                             "en": "No cluster has coordinates yet."},
    # broadcast and delivery states
    "st.scheduled": {"vi": "Đã lên lịch", "en": "Scheduled"},
    "st.sending": {"vi": "Đang gửi", "en": "Sending"},
    "st.sent": {"vi": "Đã gửi", "en": "Sent"},
    "st.done": {"vi": "Đã xong", "en": "Done"},
    "st.cancelled": {"vi": "Đã huỷ", "en": "Cancelled"},
    "st.rejected": {"vi": "Bị từ chối", "en": "Rejected"},
    "st.pending_approval": {"vi": "Chờ phê duyệt", "en": "Waiting for approval"},
    "st.pending_confirmation": {"vi": "Chờ người thứ hai xác nhận",
                                "en": "Waiting for a second person"},
    "st.pending": {"vi": "Chưa gửi", "en": "Not sent"},
    "st.acked": {"vi": "Đã nhận lệnh", "en": "Command received"},
    "st.media_ready": {"vi": "Đã tải âm thanh", "en": "Audio ready"},
    "st.playing": {"vi": "Đang phát", "en": "Playing"},
    "st.played": {"vi": "Đã phát", "en": "Played"},
    "st.interrupted": {"vi": "Bị ngắt", "en": "Interrupted"},
    "st.failed": {"vi": "Lỗi", "en": "Failed"},
    "st.missed": {"vi": "Bỏ lỡ", "en": "Missed"},
}


def state(value: str, lang: str) -> str:
    """A broadcast or delivery state in words (the code itself if it has none)."""
    entry = UI.get(f"st.{value}")
    return (entry.get(lang) or entry["vi"]) if entry else value


def translate(key: str, lang: str, **params: Any) -> str:
    entry = UI.get(key)
    if entry is None:
        from ..i18n import translate as api_translate  # error keys shared with the API

        return api_translate(key, lang, **params)
    text = entry.get(lang) or entry["vi"]
    return text.format(**params) if params else text
