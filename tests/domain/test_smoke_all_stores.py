from tests.scenario import rate_fully


def test_a_delivered_result_reloads_identically_on_every_store(world, app, settings):
    evaluation_id = world.evaluation_id()
    rate_fully(world, evaluation_id, world.employee)
    written = app.deliver_result(evaluation_id, actor=world.rater)
    assert written.position is not None
    evaluation = app.get_evaluation(evaluation_id)
    assert evaluation.result == {"hasil_kerja": "sesuai_ekspektasi",
                                 "perilaku_kerja": "sesuai_ekspektasi", "predikat": "baik"}
    assert app.recorder.max_notification_id() == written.position
