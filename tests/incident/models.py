"""The shape of the original system: a Ticket, and SLA models added without a migration."""

from django.db import models


class Ticket(models.Model):
    title = models.CharField(max_length=200)


class SLAPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)


class SLAMetric(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE)
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE)
    deadline = models.DateTimeField(db_index=True)
