"""Prediction -> the answers of the HTTP contract: a `Classification` with its reply, and Rasa's
parse format. The service and the chat's local mode both answer through here, so they agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from intentbot.replies import slot_values
from intentbot.serving.schemas import (
    Classification,
    EntityAnswer,
    IntentScore,
    RasaEntity,
    RasaIntent,
    RasaParse,
)

if TYPE_CHECKING:  # torch stays out of the HTTP chat, which imports the schemas only
    from intentbot.predictor import Prediction
    from intentbot.replies import Responder


def classification(prediction: Prediction, responder: Responder) -> Classification:
    """The answer to one message: its ranking, its entities, and the bot's reply with its slots
    filled from them."""
    return Classification(
        text=prediction.text,
        intent=prediction.intent,
        confidence=prediction.confidence,
        out_of_scope=prediction.out_of_scope,
        ranking=[
            IntentScore(intent=item.intent, confidence=item.confidence)
            for item in prediction.ranking
        ],
        entities=[
            EntityAnswer(
                entity=entity.entity,
                value=entity.value,
                start=entity.start,
                end=entity.end,
                text=entity.text,
                confidence=entity.confidence,
                role=entity.role,
                group=entity.group,
            )
            for entity in prediction.entities
        ],
        reply=responder.reply(
            prediction.intent, prediction.text, entities=slot_values(prediction.entities)
        ),
    )


def rasa_parse(answer: Classification) -> RasaParse:
    """The same answer in Rasa's NLU format."""
    ranking = [RasaIntent(name=item.intent, confidence=item.confidence) for item in answer.ranking]
    intent = RasaIntent(name=answer.intent, confidence=answer.confidence)
    entities = [rasa_entity(entity) for entity in answer.entities]
    return RasaParse(text=answer.text, intent=intent, intent_ranking=ranking, entities=entities)


def rasa_entity(entity: EntityAnswer) -> RasaEntity:
    """Rasa's keys; `role` and `group` appear only when set, as Rasa's own extractors do."""
    extra = {key: getattr(entity, key) for key in ("role", "group") if getattr(entity, key)}
    return RasaEntity(
        entity=entity.entity,
        start=entity.start,
        end=entity.end,
        value=entity.value,
        confidence_entity=entity.confidence,
        **extra,
    )
