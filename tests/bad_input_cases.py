"""The bad inputs of ``bad_inputs.py``, per app: each case is (app, its arguments), and must end
with exit code 2, one line naming the problem, no traceback and nothing written."""

from __future__ import annotations

APPS = {
    "abtest-sim": "abtest_sim.apps.simulate",
    "abtest-analyze": "abtest_sim.apps.analyze",
    "abtest-sim-aggregate": "abtest_sim.apps.aggregate",
    "abtest-sim-plan": "abtest_sim.apps.plan",
    "reloop-offline": "reloop.cli",
    "abtest-sim-calibrate": "abtest_sim.apps.calibrate",
    "abtest-sim-forecast": "abtest_sim.apps.forecast",
}
SIM = ("experiment=smoke", "warmup_cache=null", "run_dir=run")
ANALYZE = ("input=days.csv", "control=A", "treatment=B", "out=out")
PLAN = ("input=unit_days.parquet", "split_arm=A", "estimator=pooled")
CALIBRATE = ("out=calibrated",)
FORECAST_TWO = ("experiment=smoke", "forecast.out=fc", "+arm@arm.b=reloop", "arm.control.share=0.4",
                "arm.treatment.share=0.3", "arm.b.share=0.3")  # fmt: skip

CASES: list[tuple[str, tuple[str, ...]]] = [
    *(
        ("abtest-sim", (*SIM, override))
        for override in [
            "+sed=5", "sed=5", "+experiment.foo=1", "+arm.treatment.foo=1", "+stats.foo=1",
            "arm.treatment.alpha=null", "arm.treatment.alpha=2", "arm.treatment.alpha=abc",
            "arm.treatment.recipe=nope", "arm.treatment.recipe={_target_:nope.nothing}",
            "arm.treatment.recipe={_target_:torch.nn.BCEWithLogitsLoss}",
            "arm.treatment.policy=popular", "arm.treatment.policy={_target_:nope.nothing}",
            "arm.treatment.policy={_target_:json.dumps}",
            "arm.treatment.share=0", "arm.treatment.train.lr=-1",
            "arm.treatment.train.lr=null", "arm.treatment.train.epochs=0",
            "arm.treatment.train.epochs=1.5",
            "arm.treatment.window_days=0", "arm.treatment.y_last=nope",
            "arm.treatment.warm_start=maybe", "arm.treatment.train.batch_size=0",
            "arm.treatment.lr=0.01", "arm.treatment.train.optimizer=sgd",
            "experiment.aa_days=null", "experiment.ab_days=0", "experiment.ab_days=-1",
            "experiment.warmup_days=0", "experiment.control=nope", "experiment.treatments=[nope]",
            "experiment.treatments=[]", "experiment.treatments=[control]",
            "experiment.epsilon=2", "experiment.salt=5", "experiment.slate_size=500",
            "experiment.slate_size=0", "experiment.aa_control=control", "world.n_users=0",
            "world.n_users=-5", "world.n_items=0", "world.drift_tau=-1", "model.name=nope",
            "model.embedding_dim=0", "model.hidden_units=[0]", "model.hidden_units=[abc]",
            "model.hidden_units=null", "model.dropout=1.5", "model.dropout=-0.1", "model.lr=0.01",
            "+model.options.cross_layers=abc", "seed=abc", "seed=null", "seed=1.5",
            "torch_threads=0", "retrain_workers=0", "report_plots=maybe", "resume=maybe",
            "progress=maybe", "warmup_cache=5", "stats.alpha=2", "stats.headline=nope",
            "stats.cs_rho=-1", "stats.cs_rho=0", "stats.cs_rho=abc",
            "run_dir=a_file",
        ]
    ),
    *(
        ("abtest-analyze", (*ANALYZE, override))
        for override in [
            "+alhpa=0.01", "input=missing.csv", "input=a_dir", "input=a_file", "control=Z",
            "treatment=A", "alpha=2", "alpha=abc", "aa_days=-1", "aa_days=100", "aa_days=abc",
            "format=nope", "headline=nope", "lineage_sd=abc", "shares={A: 2}", "out=a_file",
            "clicks=nope", "input=text_clicks.csv", "input=inf_impressions.csv",
            "input=text_days.csv", "phase=phase", "cs_rho=-0.5", "cs_rho=abc",
            # reading (one reader for every app: reloop.datasets) and what the log holds
            "input=dup_header.csv", "input=hours.parquet", "input=hours_text.csv",
            "input=empty.csv", "input=header_only.csv", "input=ragged.csv",
            "input=short_line.csv", "input=blank_line.csv", "input=garbage.parquet",
            "input=truncated.parquet", "input=parquet_as.csv", "input=days.txt",
            "input=latin1.csv", "input=huge_impressions.csv", "input=overflow.csv",
            "input=negative_clicks.csv", "input=clicks_over.csv", "input=bool_clicks.csv",
            "input=shared_unit.csv", "input=one_unit_arm.csv", "input=int_arm.csv",
            "input=nulls.csv", "input=nan_clicks.csv",
            # settings: numbers typed as in every app, finite, in range
            "shares={A: nan, B: 0.5}", "shares={A: inf, B: 0.5}", "shares=[0.5, 0.5]",
            "shares={A: -0.5, B: 0.5}", "shares={A: 0, B: 1}", "shares={A: '0.5', B: 0.5}",
            "alpha=nan", "alpha='0.05'", "alpha=true", "cs_rho=nan", "cs_rho=inf",
            "lineage_sd={cuped: nan}", "lineage_sd={cuped: inf}", "lineage_sd={cuped: -0.1}",
            "aa_days=1.5", "day_format=%Y", "format=impressions", "p_true=p", "aa_control=B",
            "unit=arm",
        ]
    ),
    *(
        ("abtest-sim-plan", (*PLAN, override))
        for override in [
            "+lfit=0.05", "lift=0", "lift=nan", "power=1.5", "alpha=0", "splits=0",
            "input=missing.parquet", "split_arm=nope", "lineage_sd=-1", "lift=abc",
            "lift=-1", "lift=-2", "lift=inf", "lift='0.01'", "power=nan", "power=0",
            "alpha=nan", "alpha=true", "lineage_sd=nan", "lineage_sd=inf", "splits=1.5",
            "estimator=zz", "pre_days=-1", "pre_days=99", "pre_days=abc",
            "forecast=missing.json", "forecast=days.csv", "forecast=a_dir",
            "input=empty.csv", "input=header_only.csv", "input=ragged.csv",
            "input=short_line.csv", "input=dup_header.csv", "input=garbage.parquet",
            "input=truncated.parquet", "input=parquet_as.csv", "input=days.txt", "input=a_dir",
            "input=hours.parquet", "input=huge_impressions.csv", "input=overflow.csv",
            "input=negative_clicks.csv", "input=clicks_over.csv", "input=bool_clicks.csv",
            "input=nulls.csv", "input=int_arm.csv",
        ]
    ),
    ("abtest-sim-plan", ("split_arm=A", "estimator=pooled")),  # input= omitted (??? in plan.yaml)
    ("abtest-sim-plan", ("input=one_unit_arm.csv", "split_arm=B", "estimator=pooled")),
    ("abtest-sim-plan", (*PLAN[:2], "estimator=cuped", "pre_days=0")),
    *(  # world settings that used to fail after the whole simulation; numbers; Hydra syntax
        ("abtest-sim", (*SIM, override))
        for override in [
            "world.n_users=1", "world.n_users=2", "world.n_users=3", "world.activity_mean=1e-9",
            "world.activity_mean=nan", "world.activity_shape=nan", "world.activity_mean=inf",
            "world.hour_effect_peak=nan", "world.hour_activity_peak=nan",
            "world.hour_activity_peak=24", "world.hour_effect_peak=-1",
            "+world.population_shifts=[{day:1,category:0,strength:nan}]",
            "+world.population_shifts=[{day:1,category:99}]",
            "+world.population_shifts=[{day:0,category:0}]", "world.drift_tau=nan",
            "world.drift_tau=inf", "world.base_logit=nan", "world.base_logit=inf",
            "world.position_eta=nan", "world.weekday_activity=[1,1]",
            "world.weekday_effect=[0,0,0,0,0,0,nan]", "world.n_candidates=0",
            "world.latent_dim=0", "world.n_categories=0", "world.user_bias_std=nan",
            "world.affinity_scale=-1", "world.freshness_tau=0", "world.candidate_popularity=nan",
            "world.max_requests_per_user=0", "world.n_users=1e3", "world.start_weekday=7",
            "seed=99999999999999999999", "seed=-1", "=5", "+=5", "seed",
            "experiment.warmup_days=1.5",
            "arm.treatment.share=nan", "arm.treatment.alpha=nan", "stats.alpha=nan",
            "model.dropout=nan", "arm.treatment.train.lr=nan", "arm.treatment.train.lr=inf",
            "arm.treatment.train.weight_decay=nan", "stats.lineage_sd={cuped: nan}",
            "run_dir=a_file/sub", "run_dir=users_folder", "warmup_cache=a_file",
        ]
    ),
    *(
        ("abtest-sim-aggregate", override)
        for override in [
            ("input=sweep_config_list",), ("input=sweep_config_null",),
            ("input=sweep_estimates_list",), ("input=sweep_string_number",),
            ("input=sweep_summary_list",), ("input=corrupt_sweep", "out=users_folder"),
            ("input=corrupt_sweep", "out=a_file"), ("input=corrupt_sweep", "alpha=nan"),
            ("input=corrupt_sweep", "alpha=abc"),
            ("input=corrupt_sweep", "paper_users_per_arm=abc"),
            (), ("input=null",), ("=5",), ("input=corrupt_sweep", "out=a_file/sub"),
        ]
    ),
    *(
        ("abtest-sim-forecast", ("experiment=smoke", "forecast.out=fc", override))
        for override in [
            "forecast.worlds=0", "forecast.aa_runs=1", "forecast.jobs=0", "forecast.launcher=nope",
            "forecast.power=1.5", "forecast.power=nan", "forecast.out=a_file",
            "forecast.out=users_folder", "+forecast.foo=1", "forecast.keep_runs=maybe",
            "forecast.store_from=abc", "arm.treatment.alpha=2", "experiment=nope", "=5",
            "world.n_users=2", "stats.headline=nope", "arm.treatment.recipe={_target_:nope.no}",
        ]
    ),
    ("abtest-sim-forecast", (*FORECAST_TWO, "experiment.treatments=[treatment,b]")),
    *(
        ("reloop-offline", ("run_dir=offline", override))
        for override in [
            "run_dir=users_folder", "train.lr=nan", "alpha=nan", "seeds=-1",
            "model.embedding_dim=0", "=5", "run_dir=a_file/sub",
        ]
    ),
    *(
        ("abtest-sim-aggregate", override)
        for override in [
            ("input=missing_dir",), ("input=corrupt_sweep",), ("input=empty_dir",),
            ("input=corrupt_sweep", "alpha=2"), ("input=corrupt_sweep", "+foo=1"),
            ("input=a_file",),
        ]
    ),
    *(
        ("reloop-offline", ("run_dir=offline", override))
        for override in [
            "+foo=1", "alpha=2", "seeds=0", "protocol=nope", "model.dropout=1.5", "model.lr=0.01",
            "train.lr=-1", "train.epochs=abc",
            "model.hidden_units=[abc]", "alpha=null",
        ]
    ),
    *(
        ("abtest-sim-calibrate", (*CALIBRATE, *override))
        for override in [
            ("input=interactions.csv", "user=uid"), ("input=interactions.csv", "time=nope"),
            ("input=interactions.csv", "time=when"), ("input=days.csv",),
            ("input=interactions.csv", "click=kind"), ("input=interactions.csv", "fit.factors=0"),
            ("input=interactions.csv", "fit.l2=-1"), ("input=interactions.csv", "fit.users=1"),
            ("input=interactions.csv", "fit.factorz=3"), ("input=interactions.csv", "+foo=1"),
            ("input=interactions.csv", "dataset=movielens100k"), (), ("input=missing.csv",),
            ("input=interactions.csv", "name=a/b"), ("input=interactions.csv", "position=kind"),
            ("input=interactions.csv", "click_min=abc"), ("dataset=table",),
            ("input=cal_nan_click.csv",), ("input=cal_null_click.csv",),
            ("input=cal_inf_time.csv",), ("input=cal_text_time.csv",),
            ("input=interactions.csv", "time_unit=parsec"),
            ("input=interactions.csv", "time_unit=ms"), ("input=cal_ms.csv", "time_unit=s"),
            ("input=cal_relative.csv",), ("input=cal_wide.csv", "time_unit=s"),
            ("input=cal_zero_time.csv",), ("input=cal_iso_time.csv", "time_unit=ms"),
            ("input=interactions.csv", "time_unit=5"), ("input=interactions.csv", "time_unit=null"),
            ("input=cal_bool_time.parquet",), ("input=cal_duration_time.parquet",),
            ("input=cal_positions.csv", "position=negative"),
            ("input=cal_positions.csv", "position=text"),
            ("input=cal_positions.csv", "position=from_3"),
            ("input=cal_positions.csv", "position=fraction"), ("input=cal_one_user.csv",),
            ("input=cal_no_clicks.csv",), ("input=cal_all_clicks.csv",),
            ("input=cal_null_user.csv",), ("input=cal_inf_user.csv",), ("input=cal_empty.csv",),
            ("input=cal_header_only.csv",), ("input=cal_ragged.csv",),
            ("input=cal_garbage.parquet",),
        ]
    ),
]  # fmt: skip
