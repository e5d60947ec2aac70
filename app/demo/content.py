"""What the demo learners say and who they are: names, language pairs, level-test answers of
graded complexity, chat lines and group-session topics.

Written for the demo (no real person's data); the level-test answers are scored by the
real CEFR scorer at seeding time, so the levels the platform shows are measured, not
declared. Each answer is pitched at one band: short simple sentences for A1, linked
clauses and connectives for B1, longer sentences with rarer words above.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMES = {
    1: ("Mina", "Jun", "Sora", "Hana", "Minho", "Jiwoo"),
    2: ("Emma", "Noah", "Olivia", "Liam", "Grace", "Ethan", "Daniel", "Chloe"),
    3: ("Haruto", "Yuki", "Aiko", "Ren", "Sakura", "Kenta"),
    4: ("Wei", "Xiu", "Mei", "Hao", "Lin", "Jie"),
    5: ("Camille", "Louis", "Hugo", "Manon", "Julien", "Lea"),
    6: ("Lena", "Felix", "Anna", "Jonas", "Mia", "Paul"),
    7: ("Lucia", "Mateo", "Ines", "Pablo", "Sofia", "Diego"),
}  # fmt: skip
"""First names by native language (``domain.reference`` ids)."""

ENGLISH = 2
PAIRS = ((1, 2), (2, 1), (3, 2), (2, 3), (7, 2), (2, 7), (5, 2), (6, 2), (4, 2), (2, 5))
"""(native, target) language ids: Korean, Japanese, Spanish, French, German and Chinese
speakers learning English, and English speakers learning Korean, Japanese, Spanish, French
(``domain.reference`` ids); every learner of a language has native partners for it."""

COUNTRY = {1: "KR", 2: "US", 3: "JP", 4: "CN", 5: "FR", 6: "DE", 7: "ES"}
"""Where a native speaker of a language lives (a location of that country)."""


@dataclass(frozen=True)
class LevelAnswer:
    self_reported: str
    """What the learner says their level is (the voice test pitches its prompt at it)."""
    text: str


ANSWERS = (
    LevelAnswer("beginner",
                "My name is Ana. I am from Spain. I like cats. I work in a shop. It is good."),
    LevelAnswer("beginner",
                "Hello. I am Ken. I live in Osaka. I have a sister. I like rice and fish. "
                "I go to school by bus."),
    LevelAnswer("elementary",
                "Hello, my name is Ken and I live in Osaka with my family. I work in an office "
                "every day. In the evening I cook dinner and watch TV. On weekends I play "
                "tennis with my friends because it is fun."),
    LevelAnswer("intermediate",
                "Last summer I went to the mountains with my brother. We walked for six hours "
                "and it was very hot, but the view from the top was amazing. When we arrived "
                "at the hut, we were so tired that we slept immediately. I felt proud because "
                "I had never walked so far before."),
    LevelAnswer("advanced",
                "In my opinion, technology has changed education in ways that are both helpful "
                "and worrying. On the one hand, students can find information instantly and "
                "attend lectures that would otherwise be unavailable to them. However, constant "
                "notifications make it harder to concentrate, and teachers often struggle to "
                "keep everyone engaged. Therefore, schools should teach students how to use "
                "these tools deliberately rather than simply banning them."),
    LevelAnswer("advanced",
                "Although digital platforms have undeniably democratised access to knowledge, "
                "I would argue that their pedagogical value depends largely on how deliberately "
                "they are integrated into the curriculum. Adaptive software, for instance, can "
                "diagnose misconceptions with remarkable precision, whereas an overreliance on "
                "automated feedback risks eroding the sustained, reflective reasoning that "
                "genuine understanding requires. Consequently, educators ought to treat "
                "technology as a scaffold rather than a substitute, cultivating the discernment "
                "students need to evaluate sources critically."),
)  # fmt: skip
"""From the simplest to the most complex; a learner answers near their self-assessed
level (the index of their current level id, 100 = A1 ... 104 = C1)."""

CHAT_LINES = (
    "Hi! Nice to meet you. When are you free to practise?",
    "Thanks for the session yesterday, it really helped.",
    'Could you check this sentence for me? "I have been living here since three years."',
    'It should be "for three years", not "since". Otherwise perfect!',
    "What do you usually do on weekends?",
    "I watched a great movie last night, have you seen it?",
    "Let's talk about food next time. I want to learn the names of dishes.",
    "Sorry, I was busy today. Tomorrow evening works for me.",
    "Your pronunciation is getting much better!",
    'How do you say "see you later" in your language?',
)
GROUP_TOPICS = (
    ("Travel stories", "TRAVEL"),
    ("Food and cooking", "FOOD"),
    ("Movies we love", "CULTURE"),
    ("Job interviews", "BUSINESS"),
    ("Weekend plans", "DAILY_LIFE"),
)
BIOS = (
    "I love hiking and trying new food.",
    "Learning languages to travel more.",
    "Software developer, coffee lover, beginner guitarist.",
    "I want to make friends from other countries.",
    "Preparing for a job abroad next year.",
)
