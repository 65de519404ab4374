"""Prompts for the example workflows of the training-assistant guide: diagnose a run, improve F1
from X to Y, make training faster. Each names the tools to call, in order, and asks for answers
that cite the numbers the tools return: the tools decide, the model explains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Argument:
    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class Prompt:
    name: str
    title: str
    description: str
    arguments: tuple[Argument, ...]
    template: str

    def render(self, values: dict[str, str]) -> str:
        missing = [a.name for a in self.arguments if a.required and not values.get(a.name)]
        if missing:
            raise ValueError(f"prompt {self.name} needs {', '.join(missing)}")
        filled = {a.name: values.get(a.name) or f"(not given: {a.description})" for a in self.arguments}
        return self.template.format(**filled)


PROMPTS: tuple[Prompt, ...] = (
    Prompt("diagnose_run", "Diagnose a run", "Why a run ended where it did: overfitting, plateau, schedule, early stopping, weak labels.",
           (Argument("job", "job id, id prefix or name", required=True),),
           "Diagnose the training run {job}.\n"
           "1. Call `run_report` with job={job}: read each diagnosis's verdict, evidence and explanation (overfitting, plateau, "
           "learning_rate_schedule, early_stopping, best_vs_last, weak_labels, data_needs).\n"
           "2. Call `run_plots` with job={job} and look at the learning curves and the per-label bars.\n"
           "3. If F1 dropped after some epoch, call `run_show` with that epoch and compare its metrics with the best epoch's.\n"
           "Answer: is it overfitting (from which epoch), did early stopping trigger, which checkpoint to use, which label is weakest, "
           "which labels need more data (only if data_needs measured it: otherwise say it was not measured and give the command it "
           "names). Quote the numbers the tools returned; do not estimate any."),
    Prompt("improve_f1", "Improve F1", "From the current F1 to a target: what the recorded runs and sweeps say to try next, as a command.",
           (Argument("target_f1", "the F1 to reach, e.g. 0.65", required=True), Argument("current_f1", "the F1 now, e.g. 0.56"),
            Argument("snapshot", "the snapshot id to train on (default: the newest run's)")),
           "My val F1 is {current_f1}; I want {target_f1}. Snapshot: {snapshot}.\n"
           "1. Call `what_next` (with the snapshot if given): the best config found so far as an exact command, the evidence behind "
           "each option, the adjustments its diagnoses call for.\n"
           "2. Call `runs_history` with group_by=batch_size and again with group_by=learning_rate: best F1 per value.\n"
           "3. For the best run named by what_next, call `run_report`: overfitting, plateau and data_needs.\n"
           "4. If a sweep exists (`runs_list` with a sweep as parent), call `sweep_report`: which parameters mattered beyond seed noise.\n"
           "Answer with the exact `trainer fit` command to run next, each change justified by a number from the tools, and what is "
           "within seed noise (not worth chasing). If the target looks out of reach of configs alone, say which labels limit F1 "
           "(weak_labels, data_needs) and whether more data or label review (`review_queues`) is the next step."),
    Prompt("faster_training", "Make training faster", "Where a run's time goes and which recorded options would cut it.",
           (Argument("job", "job id, id prefix or name (default: what is training now)"),),
           "Make training faster for {job}.\n"
           "1. Call `run_show` with the job (or `runs_monitor` when nothing was given): `throughput` (samples/s, seconds per epoch, "
           "peak memory, GPU use) and `config.train` (batch_size, gradient_accumulation_steps, batching, fp16/bf16, num_workers, "
           "eval_steps).\n"
           "2. Call `run_report`: best epoch and early stopping (epochs after the best one are wasted time).\n"
           "3. Call `runs_history`: runs with other batching or batch sizes, and their seconds per epoch.\n"
           "Answer with the exact `trainer fit` command and the expected effect of each change, grounded in the recorded throughput: "
           "`--batching packed` (about 94% real tokens vs 63% length-bucketed), mixed precision on a GPU (on by default there), "
           "`--gradient-accumulation-steps` for a larger effective batch, `--num-workers`, `--early-stopping-patience`, `--eval-steps`."),
)
BY_NAME = {p.name: p for p in PROMPTS}
