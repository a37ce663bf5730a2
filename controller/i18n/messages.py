"""Messages of refusals and results (errors raised by services, shown by every face)."""

MESSAGES: dict[str, dict[str, str]] = {
    "upload.missing_file": {
        "vi": "Chưa chọn tệp âm thanh để tải lên.",
        "en": "No audio file was attached.",
    },
    "upload.empty": {"vi": "Tệp tải lên rỗng.", "en": "The uploaded file is empty."},
    "upload.too_large": {
        "vi": "Tệp quá lớn: tối đa {limit_mb} MB.",
        "en": "The file is too large: at most {limit_mb} MB.",
    },
    "upload.not_audio": {
        "vi": "Tệp không phải là âm thanh hợp lệ (chấp nhận WAV, MP3, M4A/AAC, OGG/Opus, FLAC).",
        "en": "The file is not valid audio (accepted: WAV, MP3, M4A/AAC, OGG/Opus, FLAC).",
    },
    "upload.unsupported_format": {
        "vi": "Định dạng '{format}' không được hỗ trợ (chấp nhận WAV, MP3, M4A/AAC, OGG/Opus, FLAC).",
        "en": "Format '{format}' is not supported (accepted: WAV, MP3, M4A/AAC, OGG/Opus, FLAC).",
    },
    "upload.truncated": {
        "vi": "Tệp âm thanh bị hỏng hoặc không đầy đủ.",
        "en": "The audio file is corrupt or truncated.",
    },
    "upload.too_short": {
        "vi": "Bản tin quá ngắn: tối thiểu {min_s} giây.",
        "en": "The bulletin is too short: at least {min_s} seconds.",
    },
    "upload.too_long": {
        "vi": "Bản tin quá dài: tối đa {max_min} phút.",
        "en": "The bulletin is too long: at most {max_min} minutes.",
    },
    "upload.silent": {
        "vi": "Tệp âm thanh không có tiếng (im lặng).",
        "en": "The audio file is silent.",
    },
    "media.not_found": {"vi": "Không tìm thấy tệp âm thanh.", "en": "Audio file not found."},
    "pinned.bad_id": {
        "vi": "Mã tin ghim '{id}' không hợp lệ: chỉ chữ thường không dấu, số và '-', tối đa 16 ký tự.",
        "en": "Pinned message code '{id}' is not valid: lowercase letters, digits and '-', at most 16.",
    },
    "pinned.not_found": {
        "vi": "Không có tin ghim '{id}'.",
        "en": "No pinned message '{id}'.",
    },
    "pinned.too_many": {
        "vi": "Đài chỉ giữ tối đa {limit} tin ghim: hãy bỏ bớt một tin trước.",
        "en": "The station keeps at most {limit} pinned messages: remove one first.",
    },
    "sms.no_channel": {
        "vi": "Đài chưa có đường gửi tin nhắn (modem GSM hoặc cổng SMS): hãy nhờ kỹ thuật viên cài đặt.",
        "en": "The station has no way to send SMS (GSM modem or SMS gateway): ask a technician to set one up.",
    },
    "sms.nothing_pinned": {
        "vi": "Chưa có tin ghim nào để phát qua tin nhắn: hãy ghim một tin khẩn cấp trước.",
        "en": "No pinned message to play by SMS yet: pin an emergency message first.",
    },
    "sms.bad_fm": {
        "vi": "Tần số FM không hợp lệ ({frequency}): hãy nhập tần số từ 64 đến 108 MHz và thời gian từ 1 đến 360 phút.",
        "en": "Not a valid FM frequency ({frequency}): give 64 to 108 MHz and 1 to 360 minutes.",
    },
    "sms.unsupported_action": {
        "vi": "Tin nhắn chưa hỗ trợ lệnh '{action}'.",
        "en": "SMS orders do not support '{action}' yet.",
    },
    "zone.exists": {"vi": "Thôn/khu vực '{id}' đã tồn tại.", "en": "Zone '{id}' already exists."},
    "zone.not_found": {"vi": "Không tìm thấy thôn/khu vực '{id}'.", "en": "Zone '{id}' not found."},
    "broadcast.resend_stream": {
        "vi": "Không phát lại được một buổi phát trực tiếp hay tiếp sóng.",
        "en": "A live or relayed broadcast cannot be sent again.",
    },
    "broadcast.resend_not_over": {
        "vi": "Bản tin chưa phát xong: hãy chờ đến khi xong.",
        "en": "The bulletin is not over yet: wait until it is.",
    },
    "broadcast.resend_none": {
        "vi": "Mọi cụm loa đã phát bản tin này: không có gì để phát lại.",
        "en": "Every loudspeaker played it: there is nothing to send again.",
    },
    "account.password_short": {
        "vi": "Mật khẩu mới cần ít nhất {n} ký tự.",
        "en": "The new password needs at least {n} characters.",
    },
    "account.password_wrong": {
        "vi": "Mật khẩu hiện tại không đúng.",
        "en": "The current password is not right.",
    },
    "approvals.reason_required": {
        "vi": "Hãy ghi lý do từ chối để người gửi biết cần sửa gì.",
        "en": "Give a reason, so the sender knows what to change.",
    },
    "keys.no_next": {
        "vi": "Chưa có khóa mới: hãy thông báo khóa mới trước.",
        "en": "There is no next key: announce one first.",
    },
    "keys.devices_waiting": {
        "vi": "{count} thiết bị chưa nhận khóa mới ({devices}); chờ thêm hoặc dùng force.",
        "en": "{count} devices have not acknowledged the next key ({devices}); wait, or use force.",
    },
    "device.no_microphone": {
        "vi": "Cụm loa '{device}' không có micro (hoặc chưa báo có): không hiệu chuẩn được.",
        "en": "Cluster '{device}' has no microphone (or has not said so): nothing to calibrate.",
    },
    "device.exists": {"vi": "Thiết bị '{id}' đã tồn tại.", "en": "Device '{id}' already exists."},
    "device.retired": {
        "vi": "Thiết bị '{id}' đã ngừng sử dụng.",
        "en": "Device '{id}' is retired.",
    },
    "device.not_found": {"vi": "Không tìm thấy thiết bị '{id}'.", "en": "Device '{id}' not found."},
    "device.stream_only": {
        "vi": "'{id}' là máy thu chỉ nghe luồng: nó nghe kênh của đài, không nhận lệnh phát.",
        "en": "'{id}' is a stream-only receiver: it hears the station's channel, it takes no "
        "play commands.",
    },
    "broadcast.not_found": {"vi": "Không tìm thấy bản tin phát.", "en": "Broadcast not found."},
    "broadcast.no_targets": {
        "vi": "Chưa chọn nơi phát (thôn hoặc thiết bị).",
        "en": "No target chosen (zone or device).",
    },
    "broadcast.no_devices": {
        "vi": "Không có thiết bị nào ở nơi đã chọn.",
        "en": "The chosen targets contain no device.",
    },
    "broadcast.quiet_hours": {
        "vi": "{at} nằm trong giờ yên tĩnh ({start}–{end}) của thôn được chọn: chỉ tin khẩn cấp "
        'được phát. Hãy chọn giờ khác, hoặc đánh dấu "phát trong giờ yên tĩnh" (cần '
        "người duyệt và được ghi nhật ký).",
        "en": "{at} is inside the quiet hours ({start}–{end}) of a chosen village: only "
        "emergencies may play. Choose another time, or ask to play in the quiet hours "
        "(needs an approver, and is logged).",
    },
    "broadcast.past_time": {
        "vi": "Thời điểm phát đã qua.",
        "en": "The start time is in the past.",
    },
    "emergency.unknown_intro": {"vi": "Không có âm báo '{intro}'.", "en": "No intro '{intro}'."},
    "emergency.not_an_emergency": {
        "vi": "Chỉ đính chính được tin khẩn cấp.",
        "en": "Only an emergency can be corrected.",
    },
    "tls.no_ca": {
        "vi": "Trạm dùng chứng chỉ riêng, không có CA để tải.",
        "en": "The station uses its own certificate: there is no CA to download.",
    },
    "live.off": {
        "vi": "Trạm chưa bật máy chủ phát trực tiếp (icecast = off).",
        "en": "Live broadcasting is off at this station (icecast = off).",
    },
    "live.source": {
        "vi": "Nguồn phát phải là một trong: {sources}.",
        "en": "The source must be one of: {sources}.",
    },
    "live.relay_priority": {
        "vi": "Tiếp sóng không dùng mức ưu tiên trực tiếp hay khẩn cấp.",
        "en": "A relay cannot have the live or emergency priority.",
    },
    "live.no_stream": {"vi": "Chưa có địa chỉ luồng phát.", "en": "No stream URL given."},
    "live.duration": {
        "vi": "Thời lượng phải từ 1 giây đến {max_min} phút.",
        "en": "The duration must be 1 second to {max_min} minutes.",
    },
    "live.not_a_stream": {
        "vi": "Bản tin này không phải phát trực tiếp hay tiếp sóng.",
        "en": "This broadcast is not live or a relay.",
    },
    "live.not_browser": {
        "vi": "Buổi phát này không lấy tiếng từ trình duyệt.",
        "en": "This live broadcast does not take the browser's microphone.",
    },
    "live.ended": {
        "vi": "Buổi phát trực tiếp này đã kết thúc.",
        "en": "This live broadcast has ended.",
    },
    "live.not_yours": {
        "vi": "Chỉ người phát hoặc người duyệt mới kết thúc được buổi phát này.",
        "en": "Only its announcer or an approver can end this live broadcast.",
    },
    "live.file_not_live": {
        "vi": 'Mức ưu tiên "trực tiếp" chỉ dành cho phát trực tiếp, không dùng cho tệp đã ghi.',
        "en": "The live priority is for live broadcasts, not a stored file.",
    },
    "cap.invalid": {
        "vi": "Bản tin CAP không hợp lệ: {where}: {problem}",
        "en": "Not a valid CAP 1.2 alert: {where}: {problem}",
    },
    "cap.expired": {
        "vi": "Cảnh báo đã hết hạn ({expires}): không phát.",
        "en": "The alert has expired ({expires}): nothing is broadcast.",
    },
    "cap.bad_token": {"vi": "Mã nguồn cảnh báo không đúng.", "en": "Unknown alert feed token."},
    "cap.nothing_to_say": {
        "vi": "Cảnh báo không có nội dung để đọc.",
        "en": "The alert has nothing to read aloud.",
    },
    "cap.audio_too_large": {
        "vi": "Âm thanh của cảnh báo quá lớn.",
        "en": "The alert's audio is too large.",
    },
    "broadcast.nothing_to_update": {
        "vi": "Không còn lần phát lại nào chưa gửi để cập nhật.",
        "en": "No repetition is left to update (all sent or over).",
    },
    "broadcast.bad_repeat": {
        "vi": "Lặp lại: khoảng cách từ {min_s} giây đến 24 giờ, và thời gian lặp không quá 7 ngày.",
        "en": "Repeat: an interval from {min_s} s to 24 h, for at most 7 days.",
    },
    "broadcast.not_cancellable": {
        "vi": "Bản tin đã kết thúc hoặc đã hủy, không thể hủy.",
        "en": "The broadcast is finished or already cancelled.",
    },
    "schedule.not_found": {
        "vi": "Không tìm thấy lịch '{name}'.",
        "en": "Schedule '{name}' not found.",
    },
    "schedule.name_mismatch": {
        "vi": "Tên lịch trong nội dung khác với '{name}'.",
        "en": "The schedule's name differs from '{name}'.",
    },
    "edge.not_available": {
        "vi": "Máy chủ này không có bộ cài đặt cho thiết bị.",
        "en": "This controller has no edge installer to serve.",
    },
    "auth.bad_login": {
        "vi": "Sai tên đăng nhập hoặc mật khẩu.",
        "en": "Wrong user name or password.",
    },
    "auth.locked": {
        "vi": "Đăng nhập sai quá nhiều lần từ nơi này; hãy thử lại sau {minutes} phút "
        "(hoặc nhờ quản trị viên mở khoá).",
        "en": "Too many failed logins from here; try again in {minutes} minutes (or ask an "
        "admin to unlock the name).",
    },
    "auth.slowed": {
        "vi": "Đăng nhập sai nhiều lần; hãy chờ {seconds} giây rồi thử lại.",
        "en": "Several failed logins; wait {seconds} seconds and try again.",
    },
    "auth.csrf": {
        "vi": "Phiên làm việc không hợp lệ; hãy tải lại trang.",
        "en": "Invalid session token; reload the page.",
    },
    "auth.forbidden": {
        "vi": "Tài khoản của bạn không có quyền làm việc này ({permission}).",
        "en": "Your account may not do this ({permission}).",
    },
    "approval.same_person": {
        "vi": "Người phê duyệt hoặc xác nhận phải là người khác với người tạo.",
        "en": "The approver or confirmer must be someone other than its creator.",
    },
    "broadcast.not_draft": {
        "vi": "Bản tin không còn là bản nháp ({state}).",
        "en": "The broadcast is no longer a draft ({state}).",
    },
    "broadcast.not_yours": {
        "vi": "Chỉ người soạn bản nháp mới gửi được nó.",
        "en": "Only the author of a draft may submit it.",
    },
    "broadcast.expired_on_release": {
        "vi": "Đã quá giờ phát mà bản tin chưa được duyệt, nên không phát nữa. Bản tin chuyển "
        "sang «Quá giờ, chưa duyệt»: hãy hẹn lại giờ phát mới trên trang bản tin.",
        "en": "Its start time passed before it was approved, so it will not play. It is now "
        "'Expired, not approved': give it a new time on its page.",
    },
    "broadcast.not_expired": {
        "vi": "Chỉ hẹn lại được bản tin đã quá giờ mà chưa duyệt.",
        "en": "Only a bulletin that expired unapproved can be given a new time.",
    },
    "broadcast.reschedule_not_yours": {
        "vi": "Chỉ người soạn bản tin hoặc người phê duyệt mới hẹn lại được.",
        "en": "Only its author or an approver can give it a new time.",
    },
    "broadcast.not_held": {
        "vi": "Bản tin không ở trạng thái chờ duyệt/xác nhận (hiện tại: {state}).",
        "en": "The broadcast is not waiting for approval or confirmation (now: {state}).",
    },
    "schedule_change.not_found": {
        "vi": "Không tìm thấy đề xuất thay đổi lịch {id}.",
        "en": "Schedule change {id} not found.",
    },
    "schedule_change.decided": {
        "vi": "Đề xuất này đã được xử lý ({state}).",
        "en": "This change was already decided ({state}).",
    },
    "user.exists": {"vi": "Tài khoản '{name}' đã tồn tại.", "en": "User '{name}' already exists."},
    "user.not_found": {
        "vi": "Không tìm thấy tài khoản '{name}'.",
        "en": "User '{name}' not found.",
    },
    "token.not_found": {"vi": "Không tìm thấy mã truy cập {id}.", "en": "Token {id} not found."},
    "alarm.not_found": {"vi": "Không tìm thấy cảnh báo {id}.", "en": "Alarm {id} not found."},
    "broker.unreachable": {
        "vi": "Không kết nối được máy chủ MQTT; lệnh chưa được gửi.",
        "en": "The MQTT broker is unreachable; the command was not sent.",
    },
    "auth.required": {
        "vi": "Cần đăng nhập (thiếu hoặc sai mã truy cập).",
        "en": "Authentication required (missing or wrong token).",
    },
    "http.not_found": {"vi": "Không có địa chỉ này.", "en": "No such address."},
    "http.method_not_allowed": {
        "vi": "Địa chỉ này không nhận cách gọi đó.",
        "en": "This address does not take that method.",
    },
    "http.error": {
        "vi": "Yêu cầu không được phục vụ (HTTP {status}).",
        "en": "The request was not served (HTTP {status}).",
    },
    "request.invalid": {"vi": "Dữ liệu không hợp lệ: {detail}", "en": "Invalid input: {detail}"},
    "media.loudness_off": {
        "vi": "Âm lượng của bản tin lệch mức chuẩn hơn 1 LU sau khi xử lý; hãy nghe lại trước khi phát.",
        "en": "The bulletin's loudness is more than 1 LU off the standard after processing; listen before sending.",
    },
    "speech.nothing": {"vi": "Chưa có nội dung để đọc.", "en": "Nothing to read aloud."},
    "speech.empty_text": {"vi": "Văn bản trống.", "en": "The text is empty."},
    "speech.text_too_long": {
        "vi": "Văn bản quá dài: tối đa {max} ký tự cho một phiên bản.",
        "en": "The text is too long: at most {max} characters per version.",
    },
    "speech.unknown_voice": {"vi": "Không có giọng đọc '{voice}'.", "en": "No voice '{voice}'."},
    "speech.unknown_language": {
        "vi": "Ngôn ngữ '{language}' không có trong danh sách.",
        "en": "Language '{language}' is not in the list.",
    },
    "speech.no_voice_for_language": {
        "vi": "Chưa có giọng đọc máy cho {language}: hãy ghi âm hoặc tải tệp âm thanh lên. "
        "Giọng máy đọc được: {spoken}.",
        "en": "No synthetic voice speaks {language}: record it or upload an audio file. "
        "Voices speak: {spoken}.",
    },
    "speech.voice_files_missing": {
        "vi": "Cần hai tệp: mô hình giọng (.onnx) và tệp cấu hình của nó (.onnx.json).",
        "en": "Two files are needed: the voice model (.onnx) and its config (.onnx.json).",
    },
    "speech.voice_config_unreadable": {
        "vi": "Không đọc được tệp cấu hình giọng (.onnx.json): không phải JSON.",
        "en": "The voice config (.onnx.json) cannot be read: not JSON.",
    },
    "speech.voice_config_not_piper": {
        "vi": "Tệp cấu hình không phải của một giọng Piper (thiếu audio.sample_rate hoặc "
        "phoneme_id_map).",
        "en": "The config is not a Piper voice's (no audio.sample_rate or phoneme_id_map).",
    },
    "speech.voice_language_unknown": {
        "vi": "Giọng này đọc ngôn ngữ '{language}', không có trong danh sách ngôn ngữ của đài.",
        "en": "This voice speaks '{language}', not one of the station's languages.",
    },
    "speech.voice_language_unused": {
        "vi": "Chưa thôn nào nghe {language}: hãy thêm ngôn ngữ này cho thôn trước "
        "(trang Thôn bản).",
        "en": "No village hears {language}: add it to a village first (Villages page).",
    },
    "speech.voice_not_a_model": {
        "vi": "Tệp mô hình không phải mô hình giọng ONNX chạy được.",
        "en": "The model file is not an ONNX voice model that runs.",
    },
    "speech.voice_config_mismatch": {
        "vi": "Tệp cấu hình không khớp với mô hình: câu đọc thử không tạo ra âm thanh.",
        "en": "The config does not fit the model: the test sentence made no sound.",
    },
    "speech.voice_exists": {
        "vi": "Đã có giọng '{voice}': hãy xoá giọng cũ trước.",
        "en": "Voice '{voice}' is already installed: remove it first.",
    },
    "speech.voice_not_removable": {
        "vi": "Giọng '{voice}' có sẵn trong hệ thống, không xoá được.",
        "en": "Voice '{voice}' is built in and cannot be removed.",
    },
    "speech.voice_language": {
        "vi": "Giọng '{voice}' không đọc ngôn ngữ này.",
        "en": "Voice '{voice}' does not speak this language.",
    },
    "speech.engine_missing": {
        "vi": "Chưa cài bộ đọc {engine} trên máy chủ.",
        "en": "The speech engine {engine} is not installed.",
    },
    "speech.engine_failed": {
        "vi": "Bộ đọc {engine} không đọc được văn bản này.",
        "en": "The speech engine {engine} could not read this text.",
    },
    "speech.engine_refused": {
        "vi": "Dịch vụ đọc văn bản từ chối yêu cầu (mã {status}).",
        "en": "The speech service refused the request (status {status}).",
    },
    "speech.engine_unreachable": {
        "vi": "Không kết nối được dịch vụ đọc văn bản.",
        "en": "The speech service cannot be reached.",
    },
    "speech.bad_lexicon_entry": {
        "vi": "Từ viết tắt '{word}' không hợp lệ (tối đa 20 ký tự, không khoảng trắng; cách đọc bằng chữ, không có số).",
        "en": "Abbreviation '{word}' is invalid (at most 20 characters, no spaces; its reading in words, no digits).",
    },
    "job.not_found": {"vi": "Không tìm thấy công việc {id}.", "en": "Job {id} not found."},
    "job.interrupted": {
        "vi": "Công việc bị gián đoạn vì máy chủ khởi động lại; hãy gửi lại.",
        "en": "The job was interrupted by a controller restart; send it again.",
    },
    "job.failed": {
        "vi": "Xử lý thất bại (lỗi máy chủ); hãy thử lại.",
        "en": "Processing failed (a controller error); try again.",
    },
    "report.bad_month": {
        "vi": "Tháng không hợp lệ: {month} (dạng NNNN-TT, ví dụ 2026-11).",
        "en": "Not a month: {month} (YYYY-MM, e.g. 2026-11).",
    },
    "report.bad_period": {
        "vi": "Kỳ báo cáo không hợp lệ: kết thúc trước khi bắt đầu, hoặc ngoài các năm 1970–2200.",
        "en": "Not a period: it ends before it starts, or lies outside 1970–2200.",
    },
    "report.too_long": {
        "vi": "Một báo cáo dài tối đa 400 ngày.",
        "en": "A report covers at most 400 days.",
    },
    # signed agent updates (services/updates.py)
    "release.bad_name": {
        "vi": "Tên tệp {filename} không phải bản phát hành của phần mềm thiết bị (loalang_agent-PHIÊNBẢN-py3-none-any.whl, làm bằng «loalang release build»).",
        "en": "{filename} is not named as an agent release (loalang_agent-VERSION-py3-none-any.whl, made by «loalang release build»).",
    },
    "release.not_wheel": {
        "vi": "Tệp không phải gói wheel đọc được.",
        "en": "The file is not a readable wheel.",
    },
    "release.not_agent": {
        "vi": "Gói này không chứa phần mềm thiết bị Loa Làng (loalang-agent).",
        "en": "This wheel does not hold the Loa Làng agent (loalang-agent).",
    },
    "release.name_version": {
        "vi": "Tên tệp {filename} không khớp phiên bản {version} ghi trong gói.",
        "en": "{filename} does not match the version inside it ({version}).",
    },
    "release.exists": {
        "vi": "Đã có bản phát hành {version}.",
        "en": "Release {version} is already kept.",
    },
    "release.not_found": {"vi": "Không có bản phát hành {version}.", "en": "No release {version}."},
    "rollout.under_way": {
        "vi": "Một đợt cập nhật khác đang chạy hoặc đang dừng ({rollout}): hãy hoàn tất hoặc hủy nó trước.",
        "en": "Another rollout is running or stopped ({rollout}): finish or cancel it first.",
    },
    "rollout.no_devices": {
        "vi": "Không có thiết bị nào cần cập nhật lên {version}.",
        "en": "No device needs updating to {version}.",
    },
    "rollout.not_found": {"vi": "Không có đợt cập nhật {rollout}.", "en": "No rollout {rollout}."},
    "rollout.bad_state": {
        "vi": "Đợt cập nhật đang ở trạng thái {state}: không làm được việc này.",
        "en": "The rollout is {state}: that cannot be done now.",
    },
    # notices to people (controller/notices): subject and text of each rule
    "notice.cluster_offline.subject": {
        "vi": "[{station}] {cluster} mất kết nối",
        "en": "[{station}] {cluster} is offline",
    },
    "notice.cluster_offline.text": {
        "vi": "{cluster} ({villages}) mất kết nối từ {since}. Hãy kiểm tra nguồn điện và đường truyền 4G.",
        "en": "{cluster} ({villages}) has been offline since {since}. Check its power and 4G link.",
    },
    "notice.speaker_line.subject": {
        "vi": "[{station}] Đường loa {line} của {cluster} không hoạt động",
        "en": "[{station}] Speaker line {line} of {cluster} is dead",
    },
    "notice.speaker_line.text": {
        "vi": "Đường loa {line} của {cluster} ({villages}) không có dòng điện khi phát, từ {since}. Hãy kiểm tra dây và loa.",
        "en": "Speaker line {line} of {cluster} ({villages}) carried no current while playing, since {since}. Check the wiring and the horns.",
    },
    "notice.emergency_unconfirmed.subject": {
        "vi": "[{station}] Tin khẩn cấp đang chờ xác nhận",
        "en": "[{station}] An emergency is waiting for confirmation",
    },
    "notice.emergency_unconfirmed.text": {
        "vi": "Tin khẩn cấp “{title}” do {who} tạo lúc {since} chưa có người thứ hai xác nhận, nên chưa được phát.",
        "en": "The emergency “{title}” created by {who} at {since} has no second person's confirmation yet, so it has not gone out.",
    },
    "notice.bulletin_missed.subject": {
        "vi": "[{station}] Bản tin “{title}” không phát được ở {villages}",
        "en": "[{station}] Bulletin “{title}” did not play in {villages}",
    },
    "notice.bulletin_missed.text": {
        "vi": "Bản tin “{title}” lúc {start} không phát được trên {clusters} cụm loa ({villages}).",
        "en": "Bulletin “{title}” at {start} did not play on {clusters} clusters ({villages}).",
    },
    "archive.not_found": {
        "vi": "Không có bản ghi này trong lưu trữ (có thể đã quá thời hạn lưu).",
        "en": "No such recording in the archive (it may be past the retention).",
    },
    "archive.period": {
        "vi": "Khoảng thời gian không hợp lệ: giờ kết thúc phải sau giờ bắt đầu.",
        "en": "Not a period: the end must come after the start.",
    },
    "archive.period_too_long": {
        "vi": "Mỗi lần xuất tối đa {days} ngày.",
        "en": "One export covers at most {days} days.",
    },
    "archive.bad_day": {
        "vi": "Ngày không hợp lệ: {day} (dạng NNNN-TT-NN). Đang hiện hôm nay.",
        "en": "Not a day: {day} (YYYY-MM-DD). Showing today.",
    },
}
