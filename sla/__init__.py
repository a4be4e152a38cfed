"""SLA management: policies and business calendars (configuration), the clocks they put
on tickets in business time, the monitor that marks clocks at risk and breached, breach
acknowledgement and notification, and the dashboard."""
