"""Every text the kiosk shows or speaks, in Vietnamese (first) and English; plain words, short sentences."""

from __future__ import annotations

from typing import Any

LANGS = ("vi", "en")

_TEXTS: dict[str, tuple[str, str]] = {
    # top bar
    "app_title": ("Tra cứu hồ sơ", "Check your dossier"),
    "home": ("Trang đầu", "Start"),
    "read_aloud": ("Đọc to", "Read aloud"),
    "other_lang": ("English", "Tiếng Việt"),
    "stop_reading": ("Dừng đọc", "Stop reading"),
    # welcome
    "welcome_title": ("Tra cứu tình trạng hồ sơ", "Check the state of your dossier"),
    "welcome_howto": (
        "Đưa mã trên giấy hẹn trả kết quả vào máy quét, hoặc chạm «Nhập mã hồ sơ».",
        "Hold the code on your receipt under the scanner, or touch «Type the dossier code».",
    ),
    "welcome_listen": ("Chạm «Đọc to» để nghe hướng dẫn.", "Touch «Read aloud» to hear this screen."),
    "welcome_picture": (
        "Mã QR ở góc trên bên phải giấy hẹn; mã hồ sơ in bên dưới tiêu đề.",
        "The QR code is at the top right of your receipt; the code is printed under the title.",
    ),
    "receipt_heading": ("GIẤY TIẾP NHẬN HỒ SƠ\nVÀ HẸN TRẢ KẾT QUẢ", "RECEIPT AND\nRETURN APPOINTMENT"),
    "receipt_code_tag": ("Mã hồ sơ", "Code"),
    "receipt_qr_tag": ("Quét mã này", "Scan this"),
    "type_code": ("Nhập mã hồ sơ", "Type the dossier code"),
    "rate_service": ("Đánh giá sự hài lòng", "Rate our service"),
    "statistics": ("Kết quả giải quyết hồ sơ", "On-time statistics"),
    # keypad
    "keypad_title": ("Nhập mã hồ sơ", "Type the dossier code"),
    "keypad_help": (
        "Gõ các số và chữ của mã. Dấu chấm và gạch ngang được thêm tự động.",
        "Type the digits and letters. Dots and dashes are added for you.",
    ),
    "keypad_next_letter": (
        "Tiếp theo là một chữ cái (ví dụ {example}).",
        "Next comes a letter (e.g. {example}).",
    ),
    "keypad_left": ("Còn {n} ký tự nữa.", "{n} more characters."),
    "keypad_complete": ("Đã đủ mã. Chạm «Tra cứu».", "The code is complete. Touch «Look up»."),
    "key_delete": ("Xóa 1 ký tự", "Delete one"),
    "key_clear": ("Xóa hết", "Clear all"),
    "key_submit": ("Tra cứu", "Look up"),
    "keypad_empty": ("Chưa nhập mã.", "No code typed yet."),
    # parser reasons in plain words
    "why_incomplete": (
        "Mã chưa đủ: còn thiếu {n} ký tự. Mã có dạng {example}.",
        "The code is not complete: {n} characters missing. A code looks like {example}.",
    ),
    "why_bad_date": (
        "Ngày {day}/{month}/20{year} trong mã không có thật. Hãy xem lại 6 chữ số ngày trên giấy hẹn.",
        "The date {day}/{month}/20{year} in the code does not exist. Check the 6 date digits on your receipt.",
    ),
    "why_zero_sequence": (
        "4 số cuối của mã không thể là 0000. Hãy xem lại trên giấy hẹn.",
        "The last 4 digits cannot be 0000. Please check your receipt.",
    ),
    "why_letter_expected": (
        "Vị trí thứ {pos} của mã phải là một chữ cái (ví dụ {example}).",
        "Character {pos} of the code must be a letter (e.g. {example}).",
    ),
    "why_too_long": (
        "Mã quá dài. Hãy xem lại mã trên giấy hẹn.",
        "The code is too long. Please check your receipt.",
    ),
    "why_not_code": (
        "Đây không phải là mã hồ sơ. Mã có dạng {example}.",
        "This is not a dossier code. A code looks like {example}.",
    ),
    "scan_not_code": (
        "Mã vừa quét không phải mã hồ sơ. Hãy quét mã trên giấy hẹn trả kết quả.",
        "What was scanned is not a dossier code. Please scan the code on your receipt.",
    ),
    "scan_bad_reason": ("Mã vừa quét: {why}", "Scanned code: {why}"),
    # searching
    "searching": ("Đang tra cứu hồ sơ…", "Looking up your dossier…"),
    # result
    "result_title": ("Thông tin hồ sơ", "Your dossier"),
    "f_code": ("Mã hồ sơ", "Dossier code"),
    "f_procedure": ("Thủ tục", "Procedure"),
    "f_applicant": ("Người nộp", "Applicant"),
    "f_organisation": ("Tổ chức", "Organisation"),
    "f_submitted": ("Ngày nộp", "Submitted"),
    "f_received": ("Ngày tiếp nhận", "Received"),
    "f_due": ("Ngày hẹn trả", "Due"),
    "f_result": ("Ngày có kết quả", "Result date"),
    "f_returned": ("Ngày trả kết quả", "Handed over"),
    "f_agency": ("Cơ quan xử lý", "Handling agency"),
    "f_department": ("Phòng ban", "Department"),
    "f_officer": ("Cán bộ xử lý", "Officer"),
    "f_note": ("Ghi chú", "Note"),
    "f_state": ("Trạng thái", "State"),
    "not_yet": ("Chưa có", "Not yet"),
    "none_value": ("Không có", "None"),
    "overdue": ("QUÁ HẠN", "OVERDUE"),
    "overdue_text": ("Hồ sơ đã quá ngày hẹn trả.", "The due date has passed."),
    "late_text": ("Hồ sơ được giải quyết sau ngày hẹn trả.", "It was finished after the due date."),
    "on_time": ("Đúng hạn", "On time"),
    "your_turn": ("BẠN CẦN LÀM", "ACTION NEEDED"),
    "history": ("Quá trình xử lý", "Processing history"),
    "no_history": ("Chưa có bước xử lý nào.", "No processing steps yet."),
    "next_steps": ("Bạn cần làm gì tiếp theo", "What to do next"),
    "next_supplement": (
        "Mang giấy tờ bổ sung đến bộ phận một cửa.{note} Thời gian bạn bổ sung không tính vào thời hạn giải quyết.",
        "Bring the missing documents to the one-stop desk.{note} The time you take does not count against the deadline.",
    ),
    "next_fees": (
        "Nộp phí, lệ phí hoặc thuế theo thông báo, rồi mang biên lai đến bộ phận một cửa.",
        "Pay the fees or taxes as notified, then bring the receipt to the one-stop desk.",
    ),
    "next_collect": (
        "Kết quả đã sẵn sàng. Mang giấy hẹn và căn cước công dân đến bộ phận một cửa để nhận.",
        "Your result is ready. Bring this receipt and your ID card to the one-stop desk to collect it.",
    ),
    "next_wait": (
        "Bạn chưa cần làm gì. Hãy quay lại hoặc tra cứu sau.",
        "Nothing to do for now. Check again later.",
    ),
    "next_online": (
        "Hồ sơ nộp trực tuyến đang chờ cán bộ tiếp nhận. Theo dõi thông báo qua tin nhắn hoặc thư điện tử.",
        "Your online application waits to be accepted. Watch for a text message or e-mail.",
    ),
    "next_overdue": (
        "Hồ sơ đã quá hạn: bạn có thể hỏi cán bộ tại quầy một cửa về lý do và ngày trả mới.",
        "It is overdue: you may ask at the one-stop desk for the reason and a new date.",
    ),
    "next_closed": (
        "Hồ sơ đã kết thúc. Nếu có thắc mắc, hãy hỏi tại quầy một cửa.",
        "This dossier is closed. Ask at the desk if you have questions.",
    ),
    "qr_caption": ("Quét bằng điện thoại để theo dõi", "Scan with your phone to follow it"),
    "print": ("In phiếu", "Print slip"),
    "printing": ("Đang in phiếu…", "Printing…"),
    "printed": ("Đã in phiếu. Mời bạn lấy phiếu.", "Printed. Please take your slip."),
    "printer_missing": (
        "Máy in chưa sẵn sàng. Bạn có thể chụp ảnh màn hình hoặc quét mã QR.",
        "The printer is not ready. You can scan the QR code instead.",
    ),
    "another_code": ("Tra mã khác", "Another code"),
    "rate_this": ("Đánh giá", "Rate"),
    "as_of": (
        "Thông tin lúc {when}. Chưa cập nhật được thông tin mới nhất.",
        "Information as of {when}. The latest update could not be fetched.",
    ),
    # not found, cannot check
    "not_found_title": ("Không tìm thấy hồ sơ", "No dossier found"),
    "not_found_text": (
        "Không có hồ sơ nào mang mã {code}.\nHãy xem lại mã trên giấy hẹn. Nếu mã đúng, hồ sơ có thể vừa được tiếp nhận: "
        "vui lòng hỏi cán bộ tại quầy một cửa.",
        "There is no dossier with code {code}.\nCheck the code on your receipt. If it is right, the dossier may have just "
        "been received: please ask at the one-stop desk.",
    ),
    "retype": ("Nhập lại mã", "Type it again"),
    "unavailable_title": ("Chưa kiểm tra được lúc này", "Cannot check right now"),
    "unavailable_text": (
        "Hệ thống chưa trả lời về hồ sơ {code}.\nVui lòng thử lại sau ít phút, hoặc hỏi cán bộ tại quầy một cửa.",
        "The system did not answer about dossier {code}.\nPlease try again in a few minutes, or ask at the one-stop desk.",
    ),
    "try_again": ("Thử lại", "Try again"),
    # idle warning
    "more_time": ("Cần thêm thời gian?", "Do you need more time?"),
    "more_time_text": (
        "Màn hình sẽ về trang đầu sau {n} giây và xóa thông tin của bạn.",
        "The screen returns to the start in {n} seconds and clears your information.",
    ),
    "yes_more_time": ("Có, tôi cần thêm", "Yes, more time"),
    "no_done": ("Không, về trang đầu", "No, back to start"),
    # rating (003 Art. 13)
    "rating_title": ("Đánh giá sự hài lòng", "Rate our service"),
    "q_service": (
        "1. Bạn hài lòng với dịch vụ nói chung ở mức nào?",
        "1. How satisfied are you with the service overall?",
    ),
    "q_staff": (
        "2. Thái độ của cán bộ và thời gian giải quyết?",
        "2. Staff attitude and processing time?",
    ),
    "level_1": ("Rất hài lòng", "Very satisfied"),
    "level_2": ("Hài lòng", "Satisfied"),
    "level_3": ("Chưa hài lòng", "Not satisfied"),
    "chosen": ("đã chọn", "chosen"),
    "send_rating": ("Gửi đánh giá", "Send"),
    "rating_incomplete": ("Hãy chọn một mức cho mỗi câu hỏi.", "Please choose one answer for each question."),
    "rating_for": ("hồ sơ {code}", "dossier {code}"),
    "thanks_title": ("Cảm ơn bạn đã đánh giá", "Thank you for your rating"),
    "thanks_text": (
        "Đánh giá của bạn đã được lưu và sẽ được gửi đến cơ quan.",
        "Your rating is saved and will be sent to the agency.",
    ),
    "rating_not_saved": (
        "Chưa lưu được đánh giá. Vui lòng báo cán bộ tại quầy.",
        "Your rating could not be saved. Please tell the staff.",
    ),
    # statistics (003 Art. 14)
    "stats_title": ("Kết quả giải quyết hồ sơ", "How dossiers were handled"),
    "stats_of": ("{office}", "{office}"),
    "this_month": ("Tháng {month}/{year}", "{month}/{year}"),
    "this_year": ("Năm {year}", "Year {year}"),
    "st_received": ("Tiếp nhận", "Received"),
    "st_finished": ("Đã giải quyết", "Finished"),
    "st_on_time": ("Đúng hạn và trước hạn", "On time or early"),
    "st_late": ("Trễ hạn", "Late"),
    "st_unfinished": ("Đang giải quyết", "In progress"),
    "st_overdue": ("trong đó quá hạn", "of which overdue"),
    "st_rate": ("Tỉ lệ đúng hạn: {rate}", "On time: {rate}"),
    "st_rate_none": ("Tỉ lệ đúng hạn: chưa có", "On time: no data yet"),
    "stats_as_of": ("Số liệu lúc {when}.", "Figures as of {when}."),
    "stats_cached": (
        "Số liệu đã lưu lúc {when}; chưa cập nhật được.",
        "Saved figures from {when}; no update possible now.",
    ),
    "stats_none": ("Chưa có số liệu. Vui lòng thử lại sau.", "No figures yet. Please try again later."),
    "stats_loading": ("Đang tải số liệu…", "Loading figures…"),
    "stats_no_agency": ("Kiosk chưa được cấu hình cơ quan.", "This kiosk has no agency configured."),
    # devices
    "scanner_missing": (
        "Máy quét mã đang tạm ngừng. Hãy chạm «Nhập mã hồ sơ».",
        "The code scanner is not working right now. Please touch «Type the dossier code».",
    ),
    "speaker_missing": (
        "Loa chưa sẵn sàng: chưa đọc to được.",
        "The speaker is not ready: cannot read aloud.",
    ),
}


def t(lang: str, key: str, **params: Any) -> str:
    """The text ``key`` in ``lang`` ("vi" or "en"), with ``params`` filled in."""
    pair = _TEXTS[key]
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**params) if params else text


def text_keys() -> list[str]:
    """Every text key (for tests: each has both languages)."""
    return list(_TEXTS)


def both(key: str) -> tuple[str, str]:
    """(Vietnamese, English) of ``key``."""
    return _TEXTS[key]
