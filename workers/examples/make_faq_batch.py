"""Writes faq_batch.jsonl and faq_answers.json (the emulator's answer book): a realistic FAQ workload for
`make run`. Three tenants ask the same support questions, with exact repeats and paraphrases, under a long static
system prompt. Run: python -m llmcache.workers.examples.make_faq_batch"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLICY = [
    "Accounts: every workspace has one owner and any number of admins and members.",
    "Billing: plans are Free, Pro ($20 per seat per month) and Business ($45 per seat per month), billed monthly "
    "or yearly with two months free on yearly billing.",
    "Refunds: yearly plans are refundable within 30 days of purchase; monthly plans are not refunded.",
    "Security: passwords are reset from Settings > Security; two-factor authentication is available on every plan.",
    "Data: exports are available from Settings > Data as JSON or CSV; deletion is final after 30 days.",
    "Support: Free plans get community support, Pro plans e-mail support within one business day, Business plans "
    "a four-hour response time and a named contact.",
    "API: keys are created in Settings > API keys; each key has a rate limit of 600 requests per minute.",
    "Regions: data is hosted in the EU (Frankfurt) or the US (Oregon), chosen when the workspace is created.",
]
SYSTEM = (
    "You are the support assistant of Acme Cloud. Answer in at most three sentences, cite the relevant policy, "
    "never invent prices or dates, and point to the settings page when one exists.\n\n"
    + "\n".join(f"Policy {i + 1}. {rule} " * 7 for i, rule in enumerate(POLICY))
)
FAQ = {
    "How do I reset my password?": (
        "Open Settings > Security and choose Reset password; we e-mail you a link valid for one hour.",
        ["How can I reset my password?", "How do I go about resetting my password?"],
    ),
    "How can I cancel my subscription?": (
        "Go to Billing > Plan and press Cancel; your plan stays active until the end of the period.",
        ["How do I cancel my subscription?", "How can I cancel the subscription?"],
    ),
    "Do you offer refunds on yearly plans?": (
        "Yes: yearly plans are refundable within 30 days of purchase (Policy 3); monthly plans are not refunded.",
        ["Are yearly plans refundable?"],
    ),
    "How do I add a team member?": (
        "Open Team > Members, press Invite and enter their e-mail address; they join as a member.",
        ["How do I invite a colleague to my team?", "How can I add a team member?"],
    ),
    "Where can I download my invoices?": (
        "Invoices are under Billing > History, as PDF files.",
        ["Where do I download my invoices?"],
    ),
    "How do I export my data?": (
        "Use Settings > Data > Export to download everything as JSON or CSV (Policy 5).",
        ["How can I export my data?"],
    ),
    "How do I enable two-factor authentication?": (
        "Open Settings > Security > Two-factor and scan the QR code with an authenticator app.",
        ["How can I turn on two-factor authentication?"],
    ),
    "What is the API rate limit?": (
        "Each API key may make 600 requests per minute (Policy 7).",
        ["What's the rate limit of the API?"],
    ),
    "Where is my data hosted?": (
        "In the EU (Frankfurt) or the US (Oregon), chosen when the workspace was created (Policy 8).",
        [],
    ),
    "How much does the Pro plan cost?": (
        "Pro costs $20 per seat per month, or two months free when billed yearly (Policy 2).",
        ["What is the price of the Pro plan?"],
    ),
}
TENANTS = ["acme", "globex", "initech"]


def main() -> None:
    rng = random.Random(7)
    lines = []
    for tenant in TENANTS:
        asked = []
        for question, (_, paraphrases) in FAQ.items():
            asked.append(question)
            asked += paraphrases
            if rng.random() < 0.5:
                asked.append(question)  # the same question again, word for word
        rng.shuffle(asked)
        for number, text in enumerate(asked, start=1):
            lines.append(
                {
                    "custom_id": f"{tenant}-{number:03d}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {
                        "model": "gpt-4o-mini",
                        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
                        "max_tokens": 200,
                        "temperature": 0,
                    },
                    "llmcache": {"namespace": "faq", "tenant": tenant},
                }
            )
    (HERE / "faq_batch.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    book = {}
    for question, (answer, paraphrases) in FAQ.items():
        for text in [question, *paraphrases]:
            book[" ".join(text.lower().split())] = answer
    (HERE / "faq_answers.json").write_text(json.dumps({"answer_book": book}, indent=2) + "\n")
    print(f"{len(lines)} lines, {len(book)} answer-book entries")


if __name__ == "__main__":
    main()
