"""The SQuAD sentence breaker of LAReQA's training pairs gives XTREME-R's spans.

The paragraphs below are invented, one for each group of the breaker's rules. Their expected
spans were produced once, during development, by running the official function,
`infer_sentence_breaks` of `third_party/processors/sb_sed.py` in github.com/google-research/xtreme
(commit 838c13b69daafb9328785d16caae2711e4012123), on each paragraph with plain Python 3.11;
the comment under each gives the sentences they cut. Several are the official rules' quirks,
kept on purpose: XTREME-R's training pairs were built with them.
"""

from __future__ import annotations

import pytest

from xfer_scale import sentence_breaks

OFFICIAL_SPANS = [
    pytest.param(
        "Dr. Smith met Gen. Lee on Jan. 5, e.g. at noon. They climbed Mt. Rainier vs. the odds. Smith et al. 2005 "
        "disagreed. See Art. 5 and No. 12 (Vol. 1, Vol. 2). She was b. 1950 in Ohio, like Lefevre (c. 1455\u20131536). "
        "The talk began at 9 a.m. Eastern time. Dr. The end.",
        [(0, 47), (48, 86), (87, 115), (116, 155), (156, 209), (210, 248), (249, 252), (253, 261)],
        # 'Dr. Smith met Gen. Lee on Jan. 5, e.g. at noon.' | 'They climbed Mt. Rainier vs. the odds.' |
        # 'Smith et al. 2005 disagreed.' | 'See Art. 5 and No. 12 (Vol. 1, Vol. 2).' |
        # 'She was b. 1950 in Ohio, like Lefevre (c. 1455–1536).' | 'The talk began at 9 a.m. Eastern time.' |
        # 'Dr.' | 'The end.'
        id="abbreviations"),
    pytest.param(
        "J. R. R. Tolkien wrote it. C. S. Lewis read it. The U.S. Army sent H.R. 2000 to A. Smith. It went to the U.K. "
        "Then it came back. Bloomberg L.P. CEO Dan Doe spoke. The dish sat at 19.2\u00b0E. This changed.",
        [(0, 26), (27, 47), (48, 89), (90, 128), (129, 143), (144, 162), (163, 186), (187, 200)],
        # 'J. R. R. Tolkien wrote it.' | 'C. S. Lewis read it.' | 'The U.S. Army sent H.R. 2000 to A. Smith.' |
        # 'It went to the U.K. Then it came back.' | 'Bloomberg L.P.' | 'CEO Dan Doe spoke.' |
        # 'The dish sat at 19.2°E.' | 'This changed.'
        id="initials"),
    pytest.param(
        "He said, \"It rained.\" Then he left. \u201cWhy?\u201d she asked. \u201cBecause.\u201d He smiled. "
        "'Fine.' It ended.",
        [(0, 21), (22, 35), (36, 53), (54, 64), (65, 75), (76, 83), (84, 93)],
        # 'He said, "It rained."' | 'Then he left.' | '“Why?” she asked.' | '“Because.”' | 'He smiled.' |
        # "'Fine.'" | 'It ended.'
        id="quotes"),
    pytest.param(
        "The war ended (in 1945.) Peace came.[3] Trade grew.[citation needed][note 1] Prices fell. The quote reads "
        "\"need such things [...] But not now\". (Nobody knew.) Later it changed.",
        [(0, 24), (25, 39), (40, 76), (77, 89), (90, 123), (124, 129), (130, 143), (144, 158), (159, 176)],
        # 'The war ended (in 1945.)' | 'Peace came.[3]' | 'Trade grew.[citation needed][note 1]' | 'Prices fell.' |
        # 'The quote reads "need such things' | '[...]' | 'But not now".' | '(Nobody knew.)' | 'Later it changed.'
        id="brackets"),
    pytest.param(
        "The score was 3.5 points. 1990 was a good year. It sold 2.1 million copies. In 2004 it closed.The end came. "
        "Sales rose 5 p.c. in May. It cost Rs. 500 in the U.S. 30 days later.",
        [(0, 25), (26, 47), (48, 75), (76, 107), (108, 133), (134, 176)],
        # 'The score was 3.5 points.' | '1990 was a good year.' | 'It sold 2.1 million copies.' |
        # 'In 2004 it closed.The end came.' | 'Sales rose 5 p.c. in May.' | 'It cost Rs. 500 in the U.S. 30 days later.'
        id="numbers"),
    pytest.param(
        "They met Gen. However the war went on. They met Gen. In the end they won. He met Dr. As  noted, he left. "
        "He met Dr. As noted, he left. Sales fell in the U.S. The firm cut costs. Apple sold more. iPod sales rose.",
        [(0, 13), (14, 38), (39, 52), (53, 73), (74, 84), (85, 104), (105, 134), (135, 157), (158, 177), (178, 194),
         (195, 211)],
        # 'They met Gen.' | 'However the war went on.' | 'They met Gen.' | 'In the end they won.' | 'He met Dr.' |
        # 'As  noted, he left.' | 'He met Dr. As noted, he left.' | 'Sales fell in the U.S.' | 'The firm cut costs.' |
        # 'Apple sold more.' | 'iPod sales rose.'
        id="sentence starts"),
    pytest.param(
        "Beyonc\u00e9 released I Am... Sasha Fierce in 2008. She toured with Jay Z. They sold tickets. He moved to "
        "Washington, D.C. He stayed. \u2022 First item. \u2022 Second item.",
        [(0, 46), (47, 69), (70, 88), (89, 117), (118, 128), (129, 142), (143, 157)],
        # 'Beyoncé released I Am... Sasha Fierce in 2008.' | 'She toured with Jay Z.' | 'They sold tickets.' |
        # 'He moved to Washington, D.C.' | 'He stayed.' | '• First item.' | '• Second item.'
        id="squad names and bullets"),
    pytest.param("One line.\nAnother line.\n\nA third.", [(0, 9), (10, 23), (25, 33)], id="newlines"),
    pytest.param("", [(0, 0)], id="empty"),
    pytest.param("   ", [(3, 3)], id="blank"),
    pytest.param(" \u2022 First item. Then more.", [(1, 1), (1, 14), (15, 25)], id="opening bullet"),
]


@pytest.mark.parametrize(("text", "spans"), OFFICIAL_SPANS)
def test_sentence_spans_are_the_official_breakers(text: str, spans: list[tuple[int, int]]):
    assert sentence_breaks.sentence_spans(text) == spans


def test_the_answer_sentence_holds_the_answer_start_and_none_holds_a_gap():
    text = "They met Gen. However the war went on. Peace came.[3] Trade grew."
    assert sentence_breaks.answer_sentence(text, text.index("war")) == "However the war went on."
    assert sentence_breaks.answer_sentence(text, text.index("[3]")) == "Peace came.[3]"
    assert sentence_breaks.answer_sentence(text, text.index(" Trade")) is None
    assert sentence_breaks.answer_sentence("", 0) is None
