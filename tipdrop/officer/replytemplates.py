"""Ready-made replies in the reporter's language, for the officer app's reply form.

The reply form starts from the report's language (reporters write in
Kazakh, Russian or English and read the answer in the same). Editable
templates per unit are a later step; these few cover the most common
answers.
"""

#: Template code -> language -> text.
REPLY_TEMPLATES = {
    "need-info": {
        "kk": "Хабарламаңызға рақмет. Бізге қосымша мәлімет керек: оқиға қай күні және "
              "қай уақытта болды, нақты қай жерде?",
        "ru": "Спасибо за сообщение. Нам нужны дополнительные сведения: в какой день и в какое "
              "время это было и где именно?",
        "en": "Thank you for your report. We need more information: on which day and at what "
              "time did it happen, and where exactly?",
    },
    "in-review": {
        "kk": "Хабарламаңыз алынды, оны полиция қызметкері тексеріп жатыр.",
        "ru": "Ваше сообщение получено, его проверяет сотрудник полиции.",
        "en": "Your report was received and an officer is checking it.",
    },
    "confirmed": {
        "kk": "Хабарламаңыз расталды, шара қолданылды. Көмегіңізге рақмет.",
        "ru": "Ваше сообщение подтвердилось, меры приняты. Спасибо за помощь.",
        "en": "Your report was confirmed and action was taken. Thank you for your help.",
    },
}


def reply_template(code: str | None, language: str | None) -> str:
    """The template ``code`` in ``language``, else in Russian; "" if there is no such template."""
    texts = REPLY_TEMPLATES.get(code or "")
    if not texts:
        return ""
    return texts.get(language or "") or texts["ru"]
