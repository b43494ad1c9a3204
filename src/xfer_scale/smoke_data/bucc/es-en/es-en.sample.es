es-000000001	El maestro no vende el barco viejo con un amigo.
es-000000002	El maestro pinta la casa vieja en el mercado.
es-000000003	La mujer ve el coche nuevo cerca del parque.
es-000000004	El granjero no compra la casa nueva cerca del parque.
es-000000005	El hombre pinta el libro viejo en el mercado.
es-000000006	El hombre encuentra el coche nuevo con un amigo.
es-000000007	El granjero pinta el libro nuevo.
es-000000008	El médico no pinta la mesa nueva.
es-000000009	El granjero encuentra la bolsa vieja.
es-000000010	El médico lleva el libro rojo en el mercado.
es-000000011	El granjero encuentra el barco nuevo con un amigo.
es-000000012	El maestro encuentra el barco viejo cerca del parque.
es-000000013	El médico encuentra el barco rojo con un amigo.
es-000000014	El maestro no ve el barco viejo con un amigo.
es-000000015	El niño no lleva la mesa vieja en el mercado.
es-000000016	La mujer vende el coche nuevo.
es-000000017	El maestro no vende la casa vieja con un amigo.
es-000000018	El maestro compra el coche rojo cerca del parque.
es-000000019	El médico no compra el barco viejo en el mercado.
es-000000020	El médico pinta la mesa nueva en el mercado.
es-000000021	El médico no lleva la casa roja en el mercado.
es-000000022	El maestro no lleva la casa vieja cerca del parque.
es-000000023	El hombre no vende la casa vieja con un amigo.
es-000000024	El hombre vende la mesa nueva.
es-000000025	El niño ve el coche viejo en el mercado con un amigo.
es-000000026	El médico pinta la bolsa nueva.
es-000000027	El granjero compra el barco nuevo.
es-000000028	El hombre no pinta la casa vieja cerca del parque con un amigo.
es-000000029	El granjero no pinta la mesa nueva en el mercado.
es-000000030	El maestro encuentra la casa roja cerca del parque.
es-000000031	El médico compra el coche nuevo en el mercado con un amigo.
es-000000032	El maestro compra el libro nuevo en el mercado con un amigo.
es-000000033	El granjero no pinta el coche viejo.
es-000000034	La mujer ve el barco viejo con un amigo.
es-000000035	El médico ve el barco nuevo.
es-000000036	El granjero no vende el libro viejo en el mercado.
es-000000037	El niño vende el barco viejo.
es-000000038	El granjero lleva el coche viejo cerca del parque.
es-000000039	El médico pinta el coche nuevo cerca del parque.
es-000000040	El niño ve la casa roja con un amigo.
es-000000041	El maestro pinta el libro viejo.
es-000000042	El médico vende la bolsa roja.
es-000000043	El granjero compra la casa vieja.
es-000000044	El niño compra la mesa vieja cerca del parque con un amigo.
es-000000045	El maestro encuentra el barco viejo en el mercado.
