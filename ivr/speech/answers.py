"""Yes and no: the words that make an answer one or the other, per language.

A menu whose intents include ``yes`` and ``no`` is a question, and its answer's
words say more than its meaning: the encoder finds "됐어요" (no thanks) close to
"네", and a grammar forces a short "좋아요" onto the nearest phrase, often "아니오".
So a yes/no menu hears these answer words beside its phrases. An answer whose words
are on the side its meaning is on is taken with at least ``ANSWER_WORD_SCORE``; one
whose words are on the other side, or on both, is asked again ("I don't mind
waiting" holds a negation and is a yes to "keep waiting?"); one with neither must
lead the other side by ``UNMARKED_ANSWER_MARGIN``. Taking a no for a yes is the
worst error an IVR makes: a re-prompt costs less.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

YES, NO = "yes", "no"
# The score an answer has for its side, at least, when its words are on that side only.
ANSWER_WORD_SCORE = 0.7
# An answer without a word of either side ("that fixed it", "I'll leave a message")
# must beat the opposite answer by this much.
UNMARKED_ANSWER_MARGIN = 0.05
# Idioms built of a negation that say yes ("no problem", "I don't mind", "没关系"):
# taken out of an answer before its negations are looked for, and read as a yes.
YES_IDIOMS = {
    "en": re.compile(
        r"\b(no (problem|worries)|not a problem|(do ?n['’]?t|do not) mind"
        r"|not in a (rush|hurry)|why not|no problems)\b"
    ),
    "zh": re.compile(r"没问题|没关系|没事|不错|不着急|不急|不介意|无所谓"),
}
# Words that make an answer negative, per language (a language not here: no check):
# negations, and an outcome that says it failed ("still fails", "还是报错": a "yes,
# I tried that, but it still fails" then holds both sides and is asked again).
NEGATIONS = {
    "ko": re.compile(r"아니|아뇨|싫|됐어|됐습니다|하지\s*마|필요\s*없|안\s*(할|해|돼)|괜찮"),
    "zh": re.compile(r"不|没|别|算了|错误|报错|失败|还是(一样|锁|提示)|一样的(错|问题)|太久"),
    "en": re.compile(
        r"\b(nope|nah|not|never|nothing|dont|didnt|doesnt|isnt|wasnt|wont|cant|cannot"
        r"|fail(s|ed|ing)?|broken|errors?|denied|unfortunately|too long|no luck"
        r"|still (locked|the same|getting|get|says|shows))\b|n['’]t\b|\bno\b"
    ),
}
# Words that make an answer positive.
AFFIRMATIONS = {
    "ko": re.compile(r"(?:^|\s)(네|예|응)(?:\s|$)|그래|좋아|좋습니다|맞아|맞습니다|부탁"),
    # 是 in 可是, 但是, 还是, 就是... is no yes; 没问题 & co: YES_IDIOMS
    "zh": re.compile(r"(?<![不没还可但就只要于总倒算])是|(?<![不没还])(对|好|可以|行)|嗯"),
    "en": re.compile(r"\b(yes|yeah|yep|yup|sure|ok|okay|right|correct|please)\b"),
}
# A contrast in an answer without a negation ("yes I did that, but...", "照着做了，
# 可是...") puts it on both sides: what follows the "but" is often a failure in words
# the negations do not list, and the meaning of what came before leans to a yes.
CONTRASTS = {
    "en": re.compile(r"\b(but|however|though)\b"),
    "zh": re.compile(r"可是|但是|不过|然而"),
}
# Short answers a yes/no menu's grammar holds beside the plan's phrases, so that the
# recognizer need not force them onto one (each is matched by the patterns above).
ANSWER_WORDS = {
    "ko": (
        "네",
        "예",
        "응",
        "좋아요",
        "좋습니다",
        "그래요",
        "맞아요",
        "맞습니다",
        "부탁해요",
        "부탁드려요",
        "부탁합니다",
        "아니요",
        "아니오",
        "아뇨",
        "싫어요",
        "괜찮아요",
        "괜찮습니다",
        "됐어요",
        "됐습니다",
        "하지 마세요",
        "필요 없어요",
    ),
}


def answer_words(language: str) -> tuple[str, ...]:
    """The answer words a yes/no menu in ``language`` hears (none for most languages:
    only the Korean model is decoded with a grammar today)."""
    return ANSWER_WORDS.get(language, ())


@dataclass(frozen=True)
class Polarity:
    """Reads which side an answer's words are on, in one language."""

    negation: re.Pattern[str]
    affirmation: re.Pattern[str]
    yes_idioms: re.Pattern[str] | None = None
    contrast: re.Pattern[str] | None = None

    @classmethod
    def of(cls, language: str) -> Polarity | None:
        """None for a language without answer words (meaning alone decides)."""
        if language not in NEGATIONS or language not in AFFIRMATIONS:
            return None
        return cls(
            NEGATIONS[language],
            AFFIRMATIONS[language],
            YES_IDIOMS.get(language),
            CONTRASTS.get(language),
        )

    def side(self, text: str) -> str | None:
        """``YES`` or ``NO`` when ``text`` holds words of that side only; "both" when
        it holds words of both, or a contrast ("but") and no negation; None when it
        holds none of these."""
        said = unicodedata.normalize("NFKC", text).lower()
        idioms = 0
        if self.yes_idioms is not None:
            said, idioms = self.yes_idioms.subn(" ", said)
        negative = bool(self.negation.search(said))
        positive = bool(idioms) or bool(self.affirmation.search(said))
        contrasted = not negative and self.contrast is not None and bool(self.contrast.search(said))
        if (negative and positive) or contrasted:
            return "both"
        if negative or positive:
            return NO if negative else YES
        return None
